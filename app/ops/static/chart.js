// A small hand-written SVG line chart for the ops page: time on x, one or more series on y.
// No dependencies; draw() clears the <svg> and redraws it from scratch on every update.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The smallest "round" number (1, 2, 5 x 10^k) at or above value.
  function niceCeil(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) return steps[i] * power;
    }
    return 10 * power;
  }

  // series: [{label, color, points: [[ts_ms, value|null], ...]}]
  // opts: {now: ts_ms, spanMs: number, format: function(value) -> string}
  function draw(svg, series, opts) {
    var width = svg.clientWidth || 480;
    var height = svg.clientHeight || 170;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var pad = { left: 56, right: 10, top: 8, bottom: 20 };
    var t1 = opts.now, t0 = t1 - opts.spanMs;
    var format = opts.format || String;
    var max = 0, any = false;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[0] >= t0 && p[1] !== null && p[1] !== undefined) {
          any = true;
          if (p[1] > max) max = p[1];
        }
      });
    });
    max = niceCeil(max);
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    function x(t) { return pad.left + ((t - t0) / (t1 - t0)) * plotW; }
    function y(v) { return pad.top + plotH - (v / max) * plotH; }

    [0, 0.5, 1].forEach(function (f) {
      var yy = y(max * f);
      svg.appendChild(el("line", { x1: pad.left, x2: width - pad.right, y1: yy, y2: yy, class: "axis" }));
      svg.appendChild(el("text", { x: pad.left - 6, y: yy + 3, "text-anchor": "end", class: "tick" }, format(max * f)));
    });
    var minutes = Math.round(opts.spanMs / 60000);
    var half = Math.round(opts.spanMs / 120000 * 10) / 10;
    [[t0, "-" + minutes + " min", "start"], [t0 + opts.spanMs / 2, "-" + half + " min", "middle"], [t1, "now", "end"]]
      .forEach(function (tick) {
        svg.appendChild(el("text", { x: x(tick[0]), y: height - 5, "text-anchor": tick[2], class: "tick" }, tick[1]));
      });
    if (!any) {
      svg.appendChild(el("text", { x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle", class: "empty" }, "no data yet"));
      return;
    }
    series.forEach(function (s) {
      var d = "", pen = false, last = null;
      s.points.forEach(function (p) {
        if (p[0] < t0 || p[1] === null || p[1] === undefined) { pen = false; return; }
        d += (pen ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1) + " ";
        pen = true;
        last = p;
      });
      if (d) svg.appendChild(el("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 1.8, "stroke-linejoin": "round" }));
      // the newest value as a dot, so a series with a single point is still visible
      if (last) svg.appendChild(el("circle", { cx: x(last[0]), cy: y(last[1]), r: 2.5, fill: s.color }));
    });
  }

  function legend(container, series) {
    container.textContent = "";
    series.forEach(function (s) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.label));
      container.appendChild(item);
    });
  }

  window.OpsChart = { draw: draw, legend: legend, niceCeil: niceCeil };
})();
