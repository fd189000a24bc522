// The live viewer. Every piece of markup comes from the server, rendered and escaped there
// (dgm/serve/fragments.py); this script swaps those pieces in, toggles classes and `hidden`, and never
// parses markup built from data. The lineage tree is drawn here from the server's records (numbers,
// colours, marks from a fixed list, and texts the server made inert, set as attributes and
// textContent), and patched in place from the changes the event stream carries (dgm/serve/tree.py).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var selected = null, scaleNow = 1;
  var live = document.getElementById("live");
  // The drawn tree: the records by id, their <g> elements, the nodes drawn after the first load.
  var tree = {token: null, labels: false, r: 17, rec: {}, els: {}, fresh: {}, edges: null, best: null, nodes: null};

  function $(id) { return document.getElementById(id); }
  function get(url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r;
    });
  }
  function svg() { return document.getElementById("lineage"); }
  function base(s) {
    return [+s.getAttribute("data-w"), +s.getAttribute("data-h")];
  }
  // The SVG has a viewBox: changing its width and height scales the whole drawing.
  function zoom(s) {
    var el = svg();
    if (!el) { return; }
    var wh = base(el);
    scaleNow = Math.max(0.05, Math.min(4, s));
    el.setAttribute("width", String(Math.round(wh[0] * scaleNow)));
    el.setAttribute("height", String(Math.round(wh[1] * scaleNow)));
  }
  function fitScale() {
    var el = svg(), wrap = $("part-tree");
    return el && wrap ? Math.min(1, (wrap.clientWidth - 8) / base(el)[0]) : 1;
  }
  function centerOn(id) {
    var g = tree.els[id], wrap = $("part-tree");
    if (!g || !wrap) { return; }
    var r = g.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    wrap.scrollLeft += (r.left + r.width / 2) - (w.left + w.width / 2);
    wrap.scrollTop += (r.top + r.height / 2) - (w.top + w.height / 2);
  }

  // ---- the tree ------------------------------------------------------------------------
  // A record: [id, parent, x, y, marks, fill, label colour, score text, tooltip].
  function make(tag, cls) {
    var x = document.createElementNS(NS, tag);
    if (cls) { x.setAttribute("class", cls); }
    return x;
  }
  function classes(id) {
    var r = tree.rec[id];
    return "node " + r[4] + (tree.fresh[id] ? " new" : "") + (id === selected ? " selected" : "");
  }
  function paint(g, r) {
    var id = r[0], R = tree.r, marks = " " + r[4] + " ", c;
    g.setAttribute("class", classes(id));
    g.setAttribute("transform", "translate(" + r[2] + "," + r[3] + ")");
    while (g.firstChild) { g.removeChild(g.firstChild); }
    if (tree.labels) {
      c = make("title");
      c.textContent = r[8];
      g.appendChild(c);
    }
    if (marks.indexOf(" best ") >= 0) {
      c = make("circle", "best-ring");
      c.setAttribute("r", String(R + 6));
      g.appendChild(c);
    }
    c = make("circle", "dot");
    c.setAttribute("r", String(R));
    c.setAttribute("fill", r[5]);
    g.appendChild(c);
    if (tree.labels) {
      c = make("text", "id");
      c.setAttribute("dy", "4");
      c.setAttribute("fill", r[6]);
      c.textContent = id.length <= 4 ? id : id.slice(0, 3) + "…";
      g.appendChild(c);
    }
    if (marks.indexOf(" rejected ") >= 0) {
      c = make("path", "cross");
      c.setAttribute("d", "M" + (R - 6) + "," + (-R - 2) + " l8,8 m0,-8 l-8,8");
      g.appendChild(c);
    }
    if (tree.labels) {
      c = make("text", "score");
      c.setAttribute("x", String(R + 4));
      c.setAttribute("dy", "4");
      c.textContent = r[7];
      g.appendChild(c);
    }
  }
  function node(r) {
    var g = make("g"), id = r[0];
    g.setAttribute("data-node", id);
    g.setAttribute("id", "tree-node-" + id);
    if (tree.labels) { g.setAttribute("tabindex", "0"); g.setAttribute("role", "button"); }
    tree.rec[id] = r;
    tree.els[id] = g;
    paint(g, r);
    return g;
  }
  // Every edge in two paths (plain, and the path to the best), from the records' positions.
  function edges() {
    var plain = [], best = [], R = tree.r, id, r, p, ym;
    for (id in tree.rec) {
      r = tree.rec[id];
      p = r[1] === null ? null : tree.rec[r[1]];
      if (!p) { continue; }
      ym = (p[3] + r[3]) / 2;
      (r[4].indexOf("on-path") >= 0 && p[4].indexOf("on-path") >= 0 ? best : plain).push(
        "M" + p[2] + "," + (p[3] + R) + "C" + p[2] + "," + ym + " " + r[2] + "," + ym + " " + r[2] + "," + (r[3] - R));
    }
    tree.edges.setAttribute("d", plain.join(""));
    tree.best.setAttribute("d", best.join(""));
  }
  function size(w, h) {
    var el = svg();
    el.setAttribute("viewBox", "0 0 " + w + " " + h);
    el.setAttribute("data-w", String(w));
    el.setAttribute("data-h", String(h));
    zoom(scaleNow);
  }
  // The whole tree (first load, or after losing track of the changes).
  function build(data) {
    var el = svg(), frag = document.createDocumentFragment(), before = tree.token ? tree.rec : null, i, r;
    while (el.firstChild) { el.removeChild(el.firstChild); }
    tree.token = data.token;
    tree.labels = !!data.labels;
    tree.r = data.r;
    tree.rec = {};
    tree.els = {};
    el.setAttribute("class", "lineage" + (tree.labels ? "" : " compact"));
    var g = make("g", "edges");
    tree.edges = g.appendChild(make("path", "edge"));
    tree.best = g.appendChild(make("path", "edge best-path"));
    el.appendChild(g);
    for (i = 0; i < data.nodes.length; i++) {
      r = data.nodes[i];
      if (before && !before[r[0]]) { tree.fresh[r[0]] = true; }
      frag.appendChild(node(r));
    }
    tree.nodes = make("g", "nodes");
    tree.nodes.appendChild(frag);
    el.appendChild(tree.nodes);
    edges();
    size(data.w, data.h);
  }
  // One change: only the new and changed nodes are (re)painted, moved ones get a new position.
  function patch(d) {
    if (d.from !== tree.token || !!d.labels !== tree.labels) { reloadTree(); return; }
    var touched = false, i, r, g, m = d.moves;
    for (i = 0; i < d.nodes.length; i++) {
      r = d.nodes[i];
      g = tree.els[r[0]];
      if (g) { tree.rec[r[0]] = r; paint(g, r); } else { tree.fresh[r[0]] = true; tree.nodes.appendChild(node(r)); }
      if (selected !== null && (r[0] === selected || r[1] === selected)) { touched = true; }
    }
    for (i = 0; i < m.length; i += 3) {
      r = tree.rec[m[i]];
      if (!r) { continue; }
      r[2] = m[i + 1];
      r[3] = m[i + 2];
      tree.els[m[i]].setAttribute("transform", "translate(" + r[2] + "," + r[3] + ")");
    }
    edges();
    if (d.w !== base(svg())[0] || d.h !== base(svg())[1]) { size(d.w, d.h); }
    tree.token = d.token;
    refreshParts();
    refreshVerify();
    if (touched) { showNode(selected, false); }
  }
  function reloadTree() {
    return get("api/tree").then(function (r) { return r.json(); }).then(function (data) {
      var wrap = $("part-tree"), left = wrap.scrollLeft, top = wrap.scrollTop;
      build(data);
      wrap.scrollLeft = left;
      wrap.scrollTop = top;
      refreshParts();
      refreshVerify();
      if (selected !== null) { showNode(selected, false); }
    }).catch(function () { /* the next event retries */ });
  }
  function select(id) {
    var was = selected;
    selected = id;
    [was, id].forEach(function (k) { if (k !== null && tree.els[k]) { tree.els[k].setAttribute("class", classes(k)); } });
  }

  function showNode(id, scroll) {
    select(id);
    return get("api/node?id=" + encodeURIComponent(id)).then(function (r) { return r.text(); }).then(function (html) {
      if (selected !== id) { return; }
      var box = $("node"), top = box.scrollTop, same = $("part-node").getAttribute("data-node") === id;
      $("part-node").innerHTML = html;
      $("part-node").setAttribute("data-node", id);
      $("hint").hidden = true;
      if (same) { box.scrollTop = top; } else { $("part-traj").innerHTML = ""; }
      if (scroll) { centerOn(id); }
      if (history.replaceState) { history.replaceState(null, "", "#node-" + encodeURIComponent(id)); }
    }).catch(function () { /* the node may not be readable yet: the next change retries */ });
  }

  // The page's other pieces that follow the archive: summary, path to the best, plots.
  function refreshParts() {
    return get("api/main").then(function (r) { return r.json(); }).then(function (m) {
      $("part-summary").innerHTML = m.summary;
      $("part-path").innerHTML = m.path;
      $("part-plots").innerHTML = m.plots;
    }).catch(function () { /* next event retries */ });
  }
  function refreshVerify() {
    return get("api/verify").then(function (r) { return r.text(); }).then(function (html) {
      $("part-verify").innerHTML = html;
      $("part-verify").querySelectorAll("td[data-bg]").forEach(function (td) {
        var bg = td.getAttribute("data-bg"), fg = td.getAttribute("data-fg"), hex = /^#[0-9a-f]{3,6}$/;
        if (hex.test(bg)) { td.style.backgroundColor = bg; }
        if (hex.test(fg)) { td.style.color = fg; }
      });
    }).catch(function () {});
  }
  function refreshWorkers() {
    return get("api/workers").then(function (r) { return r.text(); }).then(function (html) {
      $("part-workers").innerHTML = html;
    }).catch(function () {});
  }

  // Trajectories: one step shown at a time.
  function step(to) {
    var t = document.querySelector("#part-traj .trajectory");
    if (!t) { return; }
    var steps = t.querySelectorAll("li.step"), n = steps.length;
    if (!n) { return; }
    if (to === "all") {
      steps.forEach(function (s) { s.hidden = false; });
      t.querySelector(".at").textContent = "all " + n + " steps";
      return;
    }
    var at = +(t.getAttribute("data-at") || 0);
    at = to === "first" ? 0 : to === "last" ? n - 1 : to === "next" ? Math.min(n - 1, at + 1)
      : to === "prev" ? Math.max(0, at - 1) : at;
    t.setAttribute("data-at", String(at));
    steps.forEach(function (s, k) { s.hidden = k !== at; });
    t.querySelector(".at").textContent = "step " + (at + 1) + " of " + n;
  }
  function openTrajectory(node, task) {
    get("api/trajectory?node=" + encodeURIComponent(node) + "&task=" + encodeURIComponent(task))
      .then(function (r) { return r.text(); }).then(function (html) {
        $("part-traj").innerHTML = html;
        step("first");
        $("part-traj").scrollIntoView({block: "nearest"});
      }).catch(function (err) { $("part-traj").textContent = String(err); });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target, el;
    if (!t.closest) { return; }
    if ((el = t.closest("svg.lineage .node"))) { showNode(el.getAttribute("data-node"), false); return; }
    if ((el = t.closest("a.goto"))) { ev.preventDefault(); showNode(el.getAttribute("data-goto"), true); return; }
    if ((el = t.closest("button.traj"))) { openTrajectory(el.getAttribute("data-node"), el.getAttribute("data-task")); return; }
    if ((el = t.closest("button[data-stepper]"))) { step(el.getAttribute("data-stepper")); return; }
    if ((el = t.closest("button[data-zoom]"))) {
      var how = el.getAttribute("data-zoom");
      zoom(how === "in" ? scaleNow * 1.25 : how === "out" ? scaleNow / 1.25 : fitScale());
    }
  });
  document.addEventListener("keydown", function (ev) {
    var el = ev.target.closest ? ev.target.closest("svg.lineage .node") : null;
    if (el && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); showNode(el.getAttribute("data-node"), false); }
    if (document.querySelector("#part-traj .trajectory") && !el) {
      if (ev.key === "ArrowRight") { step("next"); } else if (ev.key === "ArrowLeft") { step("prev"); }
    }
  });
  // Pan by dragging the tree; zoom with ctrl + wheel.
  (function () {
    var wrap = $("part-tree"), drag = null;
    wrap.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0) { return; }
      drag = {x: ev.clientX, y: ev.clientY, l: wrap.scrollLeft, t: wrap.scrollTop, moved: false};
    });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) { return; }
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; wrap.classList.add("panning"); }
      wrap.scrollLeft = drag.l - dx;
      wrap.scrollTop = drag.t - dy;
    });
    window.addEventListener("mouseup", function () { drag = null; wrap.classList.remove("panning"); });
    wrap.addEventListener("wheel", function (ev) {
      if (!ev.ctrlKey) { return; }
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? scaleNow * 1.1 : scaleNow / 1.1);
    }, {passive: false});
  })();

  // Live: the server says when the archive or the loop's progress changed.
  function connect() {
    var es = new EventSource("events?since=" + encodeURIComponent(tree.token));
    es.addEventListener("open", function () { live.textContent = "live"; live.className = "live on"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; live.className = "live off"; });
    es.addEventListener("tree", function (ev) { patch(JSON.parse(ev.data)); });
    es.addEventListener("archive", function (ev) {
      if (JSON.parse(ev.data) !== tree.token) { reloadTree(); }
    });
    es.addEventListener("progress", function () { refreshWorkers(); });
    es.addEventListener("verify", function () { refreshVerify(); });
  }

  build(JSON.parse($("tree-data").textContent));
  if (window.performance && performance.mark) { performance.mark("dgm-tree-built"); }  // for scripts/bench_serve.py
  refreshVerify();
  var fromHash = decodeURIComponent((location.hash || "").replace(/^#node-/, ""));
  var start = fromHash || document.body.getAttribute("data-start");
  if (fitScale() < 1 && fitScale() >= 0.45) { zoom(fitScale()); }
  if (start) { showNode(start, true); }
  connect();
})();
