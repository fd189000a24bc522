// Node selection: show the clicked node's panel. Panels are rendered server-side (escaped);
// this script only toggles `hidden` and classes, never builds markup from data.
(function () {
  "use strict";
  var panels = document.querySelectorAll("article.panel");
  var wrap = document.querySelector(".tree-wrap");
  var svg = document.getElementById("lineage");
  var W = svg ? +svg.getAttribute("width") : 0, H = svg ? +svg.getAttribute("height") : 0;
  // The SVG has a viewBox: changing its width and height scales the whole drawing.
  function zoom(s) {
    if (!svg) { return; }
    s = Math.max(0.1, Math.min(3, s));
    svg.setAttribute("width", String(Math.round(W * s)));
    svg.setAttribute("height", String(Math.round(H * s)));
    svg.setAttribute("data-scale", String(s));
  }
  function scale() { return svg ? +(svg.getAttribute("data-scale") || 1) : 1; }
  function fitScale() { return wrap && W ? Math.min(1, (wrap.clientWidth - 8) / W) : 1; }
  function centerOn(id) {
    var g = document.getElementById("tree-node-" + id);
    if (!g || !wrap) { return; }
    var r = g.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    wrap.scrollLeft += (r.left + r.width / 2) - (w.left + w.width / 2);
    wrap.scrollTop += (r.top + r.height / 2) - (w.top + w.height / 2);
  }
  var nodes = document.querySelectorAll("svg.lineage .node");
  function show(id) {
    var found = false;
    panels.forEach(function (p) {
      var on = p.getAttribute("data-node") === id;
      p.hidden = !on;
      if (on) { found = true; }
    });
    nodes.forEach(function (n) {
      n.classList.toggle("selected", n.getAttribute("data-node") === id);
    });
    var hint = document.getElementById("hint");
    if (hint) { hint.hidden = found; }
    return found;
  }
  function select(id, scroll) {
    if (show(id)) {
      if (scroll) { centerOn(id); }
      if (history.replaceState) { history.replaceState(null, "", "#node-" + encodeURIComponent(id)); }
      if (scroll) {
        var p = document.getElementById("panel-" + id);
        if (p) { p.scrollIntoView({block: "nearest"}); }
      }
    }
  }
  nodes.forEach(function (n) {
    n.addEventListener("click", function () { select(n.getAttribute("data-node"), false); });
    n.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(n.getAttribute("data-node"), false); }
    });
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.goto") : null;
    if (a) { ev.preventDefault(); select(a.getAttribute("data-goto"), true); }
  });
  document.querySelectorAll("button[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      var how = b.getAttribute("data-zoom");
      zoom(how === "in" ? scale() * 1.25 : how === "out" ? scale() / 1.25 : fitScale());
    });
  });
  window.addEventListener("hashchange", function () {
    var id = decodeURIComponent((location.hash || "").replace(/^#node-/, ""));
    if (id && show(id)) { centerOn(id); }
  });
  var fromHash = decodeURIComponent((location.hash || "").replace(/^#node-/, ""));
  var start = document.body.getAttribute("data-start");
  var first = (fromHash && show(fromHash)) ? fromHash : start;
  if (first !== fromHash && start) { show(start); }
  // A wide tree is shrunk to fit while it stays legible; past that, it scrolls to the shown node.
  if (fitScale() < 1 && fitScale() >= 0.45) { zoom(fitScale()); }
  if (first) { centerOn(first); }
})();
