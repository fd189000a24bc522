// The live viewer. Every piece of markup comes from the server, rendered and escaped there
// (dgm/serve/fragments.py); this script swaps pieces in, toggles classes and `hidden`, and
// never builds markup from data.
(function () {
  "use strict";
  var selected = null, scaleNow = 1, known = null, mainToken = document.body.getAttribute("data-token");
  var live = document.getElementById("live");

  function $(id) { return document.getElementById(id); }
  function get(url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r;
    });
  }
  function svg() { return document.getElementById("lineage"); }
  function base(s) {
    if (!s.hasAttribute("data-w")) {
      s.setAttribute("data-w", s.getAttribute("width"));
      s.setAttribute("data-h", s.getAttribute("height"));
    }
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
    var g = document.getElementById("tree-node-" + id), wrap = $("part-tree");
    if (!g || !wrap) { return; }
    var r = g.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    wrap.scrollLeft += (r.left + r.width / 2) - (w.left + w.width / 2);
    wrap.scrollTop += (r.top + r.height / 2) - (w.top + w.height / 2);
  }
  function mark() {
    var seen = known || {};  // nodes drawn since the page opened are flagged "new" once
    document.querySelectorAll("svg.lineage .node").forEach(function (n) {
      var id = n.getAttribute("data-node");
      n.classList.toggle("selected", id === selected);
      if (known && !known[id]) { n.classList.add("new"); }
      seen[id] = true;
    });
    known = seen;
  }

  function showNode(id, scroll) {
    selected = id;
    mark();
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

  function refreshMain() {
    return get("api/main").then(function (r) { return r.json(); }).then(function (m) {
      var wrap = $("part-tree"), left = wrap.scrollLeft, top = wrap.scrollTop;
      $("part-summary").innerHTML = m.summary;
      $("part-path").innerHTML = m.path;
      $("part-plots").innerHTML = m.plots;
      wrap.innerHTML = m.tree;
      zoom(scaleNow);
      wrap.scrollLeft = left;
      wrap.scrollTop = top;
      mainToken = m.token;
      mark();
      if (selected !== null) { showNode(selected, false); }
    }).catch(function () { /* next event retries */ });
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
    var es = new EventSource("events");
    es.addEventListener("open", function () { live.textContent = "live"; live.className = "live on"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; live.className = "live off"; });
    es.addEventListener("archive", function (ev) {
      if (JSON.parse(ev.data) !== mainToken) { refreshMain(); }
    });
    es.addEventListener("progress", function () { refreshWorkers(); });
  }

  mark();
  var fromHash = decodeURIComponent((location.hash || "").replace(/^#node-/, ""));
  var start = fromHash || document.body.getAttribute("data-start");
  if (fitScale() < 1 && fitScale() >= 0.45) { zoom(fitScale()); }
  if (start) { showNode(start, true); }
  connect();
})();
