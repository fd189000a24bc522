// Node selection: show the clicked node's panel. Panels are rendered server-side (escaped);
// this script only toggles `hidden` and classes, never builds markup from data.
(function () {
  "use strict";
  var panels = document.querySelectorAll("article.panel");
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
  var fromHash = decodeURIComponent((location.hash || "").replace(/^#node-/, ""));
  var start = document.body.getAttribute("data-start");
  if (!(fromHash && show(fromHash)) && start) { show(start); }
})();
