// batteryloop pages work without this script; it draws the charts and shows progress while a long form runs.
(function () {
  "use strict";
  function drawCharts() {
    if (!window.Plotly) { return; }
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var fig = JSON.parse(el.getAttribute("data-figure"));
      window.Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
      el.setAttribute("data-drawn", "true");
    });
  }
  function progress() {
    document.querySelectorAll("form[data-progress]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var box = form.querySelector(".progress");
        if (box) { box.hidden = false; }
        form.setAttribute("aria-busy", "true");
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); progress(); });
})();
