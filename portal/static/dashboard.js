// The dashboard's charts (Apache ECharts, vendored): each [data-chart] element carries its data as
// JSON (labels, series, one link per label); a click on a bar, point or slice opens the list
// behind that figure. No inline script: the Content-Security-Policy forbids it.
(function () {
  "use strict";
  var PALETTE = ["#1f5fa8", "#d0771e", "#2e8b57", "#a01d1d", "#6b4ca5", "#5b6770"];

  function option(spec) {
    var tooltip = { trigger: spec.kind === "pie" ? "item" : "axis", confine: true };
    var legend = spec.series.length > 1 || spec.kind === "pie" ? { bottom: 0, type: "scroll" } : undefined;
    if (spec.kind === "pie") {
      return {
        color: PALETTE, tooltip: tooltip, legend: legend,
        series: [{ type: "pie", radius: ["35%", "65%"], name: spec.series[0].name,
          data: spec.labels.map(function (label, i) { return { name: label, value: spec.series[0].values[i] }; }) }]
      };
    }
    var stacked = spec.kind === "stacked";
    return {
      color: PALETTE, tooltip: tooltip, legend: legend,
      grid: { left: 8, right: 16, top: 16, bottom: legend ? 40 : 8, containLabel: true },
      xAxis: { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 8 ? 40 : 0 } },
      yAxis: { type: "value" },
      series: spec.series.map(function (s) {
        return { type: spec.kind === "line" ? "line" : "bar", name: s.name, data: s.values,
          stack: stacked ? "total" : undefined, barMaxWidth: 48 };
      })
    };
  }

  function draw(element) {
    if (!window.echarts || element.dataset.drawn) { return; }
    var spec = JSON.parse(element.dataset.chart);
    element.dataset.drawn = "yes";
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option(spec));
    chart.on("click", function (params) {
      var link = spec.links[params.dataIndex];
      if (link) { window.location.assign(link); }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
