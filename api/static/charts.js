"use strict";
// Small SVG charts drawn at the width of their card (redrawn when the card resizes), so
// nothing is wider than its card and text stays at its real size. Data only ever goes
// through textContent / setAttribute. Every chart has an accessible name (aria-label).
const Charts = (function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const CHAR = 6.3; // average width of an 11px character, for fitting labels

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    return v.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %"; }
  function fit(text, width) {
    const max = Math.max(3, Math.floor(width / CHAR));
    return text.length <= max ? text : text.slice(0, max - 1) + "…";
  }
  function frame(width, height, label) {
    const s = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
                           role: "img", "aria-label": label });
    s.append(svg("title", {}, label));
    return s;
  }
  function pad2(x) { return String(x).padStart(2, "0"); }
  function utcDay(d) {
    return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate());
  }
  function utcLabel(ts, step) {
    const d = new Date(ts * 1000);
    if (step >= 86400) return utcDay(d);
    return utcDay(d).slice(5) + " " + pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
  }
  function utcStamp(ts) {
    const d = new Date(ts * 1000);
    return utcDay(d) + " " + pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + " UTC";
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // Horizontal bars, label above each bar, value after it: rows = [{label, value, color,
  // text?}]. Fits any width: labels get the whole row, values are never cut off.
  function hbars(width, rows, opts) {
    opts = opts || {};
    const rowH = 32, valueW = Math.min(150, Math.max(...rows.map((r) =>
      (r.text || fmt(r.value)).length * CHAR + 8), 40));
    const barW = Math.max(40, width - valueW - 2);
    const max = opts.max || Math.max(1e-9, ...rows.map((r) => Math.abs(r.value || 0)));
    const neg = rows.some((r) => (r.value || 0) < 0);
    const zero = neg ? barW / 2 : 0, scale = (neg ? barW / 2 : barW) / max;
    const s = frame(width, rows.length * rowH + 2, opts.label || "bar chart");
    rows.forEach((r, i) => {
      const y = i * rowH, v = r.value || 0, w = Math.abs(v) * scale;
      s.append(svg("text", { x: 0, y: y + 11 }, fit(r.label, width)));
      const rect = svg("rect", { x: v < 0 ? zero - w : zero, y: y + 15, width: Math.max(w, 1),
                                 height: 12, rx: 2, fill: r.color || "var(--acc)" });
      rect.append(svg("title", {}, r.label + ": " + (r.text || fmt(r.value, 3))));
      const end = v < 0 ? zero : zero + w;
      s.append(rect, svg("text", { x: Math.min(end, barW) + 5, y: y + 25 }, r.text || fmt(r.value)));
    });
    if (neg) s.append(svg("line", { class: "axis", x1: zero, x2: zero, y1: 12,
                                    y2: rows.length * rowH }));
    return s;
  }

  // Time columns on a real time axis: buckets = [{t, values: []}] (unix s), `step` their
  // size; missing buckets stay empty (gaps are gaps). Stacked series.
  function timeColumns(width, buckets, step, series, opts) {
    opts = opts || {};
    const h = 180, left = 38, bottom = 22, top = 16;
    const t0 = opts.from !== undefined ? opts.from : Math.min(...buckets.map((b) => b.t));
    const t1 = opts.to !== undefined ? opts.to : Math.max(...buckets.map((b) => b.t)) + step;
    const span = Math.max(step, t1 - t0), plotW = Math.max(60, width - left - 4);
    const x = (t) => left + ((t - t0) / span) * plotW;
    const totals = buckets.map((b) => b.values.reduce((a, v) => a + (v || 0), 0));
    const max = niceMax(Math.max(1, ...totals));
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    const s = frame(width, h, opts.label || "time chart");
    for (const frac of [0, 0.5, 1]) {
      const v = max * frac;
      s.append(svg("line", { class: "grid", x1: left, x2: width, y1: y(v), y2: y(v) }));
      s.append(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", class: "muted" },
                   fmt(v, 1)));
    }
    const colW = Math.max(1, (step / span) * plotW - 1);
    buckets.forEach((b, i) => {
      let base = 0;
      b.values.forEach((v, k) => {
        if (!v) return;
        const rect = svg("rect", { x: x(b.t), y: y(base + v), width: colW,
                                   height: Math.max(0.5, y(base) - y(base + v)),
                                   fill: series[k].color });
        rect.append(svg("title", {}, utcStamp(b.t) + " · " + series[k].name + ": " + fmt(v)));
        s.append(rect);
        base += v;
      });
      if (colW >= 16 && totals[i]) s.append(svg("text", { x: x(b.t) + colW / 2, y: y(base) - 3,
        "text-anchor": "middle" }, fmt(totals[i])));
    });
    s.append(svg("line", { class: "axis", x1: left, x2: width, y1: h - bottom, y2: h - bottom }));
    // Ticks at round UTC times, as many as fit.
    const steps = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
                   7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400];
    const fitTicks = Math.max(2, Math.floor(plotW / 75));
    const tick = steps.find((st) => st >= step && span / st <= fitTicks) || steps.at(-1);
    for (let t = Math.ceil(t0 / tick) * tick; t <= t1; t += tick) {
      s.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: h - bottom, y2: h - bottom + 4 }));
      const text = utcLabel(t, tick), half = (text.length * CHAR) / 2;
      const at = Math.min(Math.max(x(t), half), width - half); // never past the card's edge
      s.append(svg("text", { x: at, y: h - 6, "text-anchor": "middle", class: "muted" }, text));
    }
    return s;
  }

  // Columns over a small integer range (a histogram): bins = [{x, count}] ascending.
  function histogram(width, bins, opts) {
    opts = opts || {};
    const h = 150, left = 30, bottom = 22, top = 16;
    const lo = bins[0].x, hi = bins.at(-1).x, n = hi - lo + 1;
    const counts = new Map(bins.map((b) => [b.x, b.count]));
    const max = niceMax(Math.max(1, ...bins.map((b) => b.count)));
    const plotW = Math.max(40, width - left - 4), colW = plotW / n;
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    const s = frame(width, h, opts.label || "histogram");
    s.append(svg("text", { x: left - 4, y: y(max) + 4, "text-anchor": "end", class: "muted" },
                 fmt(max)));
    const every = Math.ceil(n / Math.max(1, Math.floor(plotW / 22)));
    for (let i = 0; i < n; i++) {
      const v = counts.get(lo + i) || 0, x = left + i * colW;
      if (v) {
        const rect = svg("rect", { x: x + 1, y: y(v), width: Math.max(1, colW - 2),
                                   height: y(0) - y(v), fill: "var(--acc)" });
        rect.append(svg("title", {}, (opts.xName || "x") + " " + (lo + i) + ": " + fmt(v)));
        s.append(rect);
        if (colW >= 18) s.append(svg("text", { x: x + colW / 2, y: y(v) - 3,
                                               "text-anchor": "middle" }, fmt(v)));
      }
      if (i % every === 0) s.append(svg("text", { x: x + colW / 2, y: h - 6,
        "text-anchor": "middle", class: "muted" }, String(lo + i)));
    }
    if (opts.mean !== null && opts.mean !== undefined) {
      const mx = left + (opts.mean - lo + 0.5) * colW;
      s.append(svg("line", { x1: mx, x2: mx, y1: top - 6, y2: h - bottom, stroke: "var(--warn)",
                             "stroke-dasharray": "4 3" }));
      s.append(svg("text", { x: Math.min(mx + 4, width - 60), y: top - 4 }, "mean " + fmt(opts.mean)));
    }
    s.append(svg("line", { class: "axis", x1: left, x2: width, y1: h - bottom, y2: h - bottom }));
    return s;
  }

  // Ranges per row (min → max with the average marked): rows = [{label, min, avg, max}].
  function ranges(width, rows, opts) {
    opts = opts || {};
    const rowH = 32, max = niceMax(Math.max(1e-9, ...rows.map((r) => r.max || 0)));
    const x = (v) => 2 + (v / max) * (width - 6);
    const s = frame(width, rows.length * rowH + 16, opts.label || "ranges");
    rows.forEach((r, i) => {
      const y = i * rowH;
      const text = r.label + ": min " + fmt(r.min) + " · avg " + fmt(r.avg) + " · max " +
        fmt(r.max) + (opts.unit || "");
      s.append(svg("text", { x: 0, y: y + 11 }, fit(text, width)));
      if (r.max === null || r.max === undefined) return;
      const band = svg("rect", { x: x(r.min), y: y + 15, width: Math.max(2, x(r.max) - x(r.min)),
                                 height: 10, rx: 2, fill: "var(--band)" });
      band.append(svg("title", {}, text));
      s.append(band, svg("rect", { x: x(r.avg) - 1.5, y: y + 13, width: 3, height: 14,
                                   fill: "var(--acc)" }));
    });
    s.append(svg("text", { x: width - 2, y: rows.length * rowH + 12, "text-anchor": "end",
                           class: "muted" }, "scale 0 – " + fmt(max) + (opts.unit || "")));
    return s;
  }

  // A difference with its interval around zero: [{label, difference, low, high, text}].
  function intervals(width, rows, opts) {
    opts = opts || {};
    const rowH = 46;
    const reach = Math.max(1e-9, ...rows.flatMap((r) => [Math.abs(r.low || 0),
      Math.abs(r.high || 0), Math.abs(r.difference || 0)])) * 1.15;
    const x = (v) => width / 2 + (v / reach) * (width / 2 - 6);
    const s = frame(width, rows.length * rowH + 4, opts.label || "differences with intervals");
    rows.forEach((r, i) => {
      const y = i * rowH;
      s.append(svg("text", { x: 0, y: y + 11 }, fit(r.label, width)));
      s.append(svg("line", { class: "axis", x1: x(0), x2: x(0), y1: y + 15, y2: y + 33 }));
      if (r.low !== null && r.high !== null && r.low !== undefined) {
        const bar = svg("line", { x1: x(r.low), x2: x(r.high), y1: y + 24, y2: y + 24,
                                  stroke: "var(--acc)", "stroke-width": 3 });
        bar.append(svg("title", {}, r.text));
        s.append(bar);
        for (const end of [r.low, r.high]) s.append(svg("line", { x1: x(end), x2: x(end),
          y1: y + 18, y2: y + 30, stroke: "var(--acc)", "stroke-width": 2 }));
      }
      if (r.difference !== null && r.difference !== undefined) {
        s.append(svg("circle", { cx: x(r.difference), cy: y + 24, r: 4, fill: "var(--fg)" }));
      }
      s.append(svg("text", { x: 0, y: y + 44, class: "muted" }, fit(r.text, width)));
    });
    return s;
  }

  function tiles(pairs) {
    const box = el("div", { class: "tiles" });
    for (const [label, value] of pairs) {
      const t = el("div", { class: "tile" });
      t.append(el("b", {}, value), el("span", {}, label));
      box.append(t);
    }
    return box;
  }
  function legend(pairs) {
    const p = el("p", { class: "legend" });
    for (const [label, color] of pairs) {
      p.append(el("i", { style: "background:" + color }), document.createTextNode(label));
    }
    return p;
  }
  function table(head, rows) {
    const t = el("table");
    const tr = el("tr");
    head.forEach((h) => tr.append(el("th", { scope: "col" }, h)));
    t.append(tr);
    rows.forEach((r) => {
      const row = el("tr");
      r.forEach((c) => row.append(el("td", {}, c === null || c === undefined ? "" : String(c))));
      t.append(row);
    });
    return t;
  }
  function csv(head, rows) {
    const cell = (v) => {
      const s = v === null || v === undefined ? "" : String(v);
      return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    return [head, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  }

  return { el, svg, fmt, pct, fit, utcStamp, utcDay, hbars, timeColumns, histogram, ranges,
           intervals, tiles, legend, table, csv };
})();
