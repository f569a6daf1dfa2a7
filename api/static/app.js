"use strict";
// The dashboard: key handling, loading, one renderer per chart, table view and CSV download
// of each chart's data, live updates from /v1/metrics/stream. All times are shown in UTC.
(function () {
  const { el, fmt, pct, utcStamp } = Charts;
  const KEY = "helpstream.api_key";
  const CATEGORIES = JSON.parse(document.getElementById("categories").textContent);
  const $ = (sel) => document.querySelector(sel);
  const chart = (name) => document.querySelector('[data-chart="' + name + '"]');
  const renderers = {}; // chart name -> (width) => {nodes, head, rows}
  let pageNames = new Map();
  let offered = null; // the API paths this server documents (endpoints still being built
                      // elsewhere are shown as "not available" without a 404 request)
  let liveAbort = null;
  let refreshTimer = null;
  let generation = 0;

  // ---- key handling: sessionStorage only, never the URL -------------------------------
  function getKey() { try { return sessionStorage.getItem(KEY); } catch (e) { return null; } }
  function setKey(k) { try { sessionStorage.setItem(KEY, k); } catch (e) { /* private mode */ } }
  function forget(message) {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    stopLive();
    clearInterval(refreshTimer);
    generation++;
    $("#app").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = message || "";
    $("#status").textContent = "";
    const input = document.querySelector('input[name="api_key"]');
    input.value = "";
    input.focus();
  }

  class Unauthorized extends Error {}
  class NotAvailable extends Error {}

  async function loadOffered() {
    if (offered) return;
    try {
      const response = await fetch("/openapi.json", { cache: "no-store", credentials: "omit" });
      offered = new Set(Object.keys((await response.json()).paths || {}));
    } catch (e) { offered = null; }
  }
  async function api(path, params) {
    if (offered && !offered.has(path)) throw new NotAvailable(path);
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
    }
    const response = await fetch(url, {
      headers: { Authorization: "Bearer " + getKey(), Accept: "application/json" },
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
    if (response.status === 401) throw new Unauthorized();
    if (response.status === 404) throw new NotAvailable(path);
    if (!response.ok) {
      let detail = response.statusText;
      try { const body = await response.json(); detail = JSON.stringify(body.detail); } catch (e) { /* */ }
      throw new Error(response.status + " " + detail);
    }
    return response.json();
  }

  // ---- filters (date-times are read as UTC) ------------------------------------------
  function toUnix(value) {
    if (!value) return "";
    const t = Date.parse(value.length === 16 ? value + ":00Z" : value + "Z");
    return isNaN(t) ? "" : String(Math.floor(t / 1000));
  }
  function filters() {
    const f = new FormData($("#filters"));
    const get = (n) => String(f.get(n) || "").trim();
    return {
      paths: { variant: get("variant"), since: toUnix(get("since")), until: toUnix(get("until")) },
      bucket: Number(get("bucket") || "3600"),
      reports: { from: get("from"), to: get("to"), category: get("category") },
    };
  }

  // ---- drawing: each chart is a renderer of its card's width --------------------------
  function widthOf(name) { return Math.max(120, Math.floor(chart(name).clientWidth)); }
  function draw(name) {
    const made = renderers[name](widthOf(name));
    const nodes = made.nodes.filter(Boolean);
    if (made.rows && made.rows.length) nodes.push(views(name, made.head, made.rows));
    chart(name).replaceChildren(...nodes);
  }
  function show(name, render) { renderers[name] = render; draw(name); }
  function message(name, text, cls) {
    show(name, () => ({ nodes: [el("p", { class: cls || "empty" }, text)] }));
  }
  function empty(name, text) { message(name, text || "No data yet."); }
  function notAvailable(name, what) {
    message(name, what + " is not available on this server yet.", "na");
  }
  // The table view and CSV download of a chart's data.
  function views(name, head, rows) {
    const box = el("div", { class: "views" });
    const details = el("details");
    details.append(el("summary", {}, "Table view"), Charts.table(head, rows));
    const button = el("button", { type: "button", "aria-label": "Download " + name + " as CSV" },
                      "Download CSV");
    button.addEventListener("click", () => {
      const blob = new Blob([Charts.csv(head, rows)], { type: "text/csv" });
      const link = el("a", { href: URL.createObjectURL(blob), download: name + ".csv" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    });
    box.append(button, details);
    return box;
  }
  let resizeTimer = null;
  const resized = new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => Object.keys(renderers).forEach(draw), 80);
  });

  function pageName(id, name) {
    const known = name || pageNames.get(id);
    return known ? known + " (#" + id + ")" : "page " + id;
  }
  function shortPage(id) { return pageNames.get(id) || String(id); }

  // ---- the charts -------------------------------------------------------------------------
  function drawPathLength(m, hist) {
    const sd = m.path_length_variance === null ? null : Math.sqrt(m.path_length_variance);
    show("path-length", (w) => ({
      nodes: [
        Charts.tiles([
          ["average length", fmt(m.average_path_length)], ["variance", fmt(m.path_length_variance)],
          ["std. deviation", fmt(sd)], ["resolved paths", fmt(m.resolved_paths)],
          ["abandoned paths", fmt(m.abandoned_paths)], ["resolution rate", pct(m.resolution_rate)],
          ["turnaround rate", pct(m.turnaround_rate)], ["late events", fmt(m.late_events)],
        ]),
        hist && hist.items.length ? Charts.histogram(w, hist.items.map((b) => ({
          x: b.path_length, count: b.paths })), { mean: m.average_path_length, xName: "length",
          label: "Histogram of resolved path lengths, " + hist.items.map((b) =>
            b.paths + " of length " + b.path_length).join(", ") }) : null,
        hist === null ? el("p", { class: "na" }, "Length distribution not available.") : null,
      ],
      head: ["path_length", "resolved_paths"],
      rows: hist ? hist.items.map((b) => [b.path_length, b.paths]) : [],
    }));
  }
  let lastHist;
  async function loadPathLength(pf) {
    const [m, hist] = await Promise.all([api("/v1/metrics/paths", pf),
      api("/v1/metrics/path-lengths", pf).catch((e) => {
        if (e instanceof NotAvailable) return null;
        throw e;
      })]);
    lastHist = hist;
    drawPathLength(m, hist);
  }
  function drawPages(m) {
    const items = m.items.filter((p) => p.z_score !== null).slice(0, 15);
    if (!items.length) return empty("flagged-pages");
    show("flagged-pages", (w) => ({
      nodes: [
        el("p", { class: "legend" }, "global turnaround rate " + pct(m.global_turnaround_rate) +
           " · ⚑ flagged (significant excess of turnarounds)"),
        Charts.hbars(w, items.map((p) => ({
          label: (p.flagged ? "⚑ " : "") + pageName(p.page_id, p.page_name) + " — " +
            p.turnarounds + " of " + p.departures + " departures turned around",
          value: p.z_score, text: "z " + fmt(p.z_score, 2),
          color: p.flagged ? "var(--warn)" : "var(--acc)",
        })), { label: "Pages by turnaround z-score; flagged: " +
          (items.filter((p) => p.flagged).map((p) => pageName(p.page_id, p.page_name))
            .join(", ") || "none") }),
      ],
      head: ["page_id", "page_name", "visits", "departures", "turnarounds", "turnaround_rate",
             "resolutions", "z_score", "flagged"],
      rows: m.items.map((p) => [p.page_id, p.page_name || pageNames.get(p.page_id) || "",
        p.visits, p.departures, p.turnarounds, p.turnaround_rate, p.resolutions, p.z_score,
        p.flagged]),
    }));
  }
  function drawTimeline(t, pf) {
    if (!t.items.length) return empty("paths-over-time");
    const step = t.bucket_seconds;
    const resolved = t.items.reduce((a, b) => a + b.resolved, 0);
    const abandoned = t.items.reduce((a, b) => a + b.abandoned, 0);
    const from = pf.since ? Math.floor(Number(pf.since) / step) * step : undefined;
    const to = pf.until ? Math.ceil(Number(pf.until) / step) * step : undefined;
    show("paths-over-time", (w) => ({
      nodes: [
        Charts.tiles([["resolved", fmt(resolved)], ["abandoned", fmt(abandoned)],
          ["first bucket", utcStamp(t.items[0].bucket)], ["last bucket", utcStamp(t.items.at(-1).bucket)]]),
        Charts.legend([["resolved", "var(--ok)"], ["abandoned", "var(--bad)"]]),
        Charts.timeColumns(w, t.items.map((b) => ({ t: b.bucket, values: [b.resolved, b.abandoned] })),
          step, [{ name: "resolved", color: "var(--ok)" }, { name: "abandoned", color: "var(--bad)" }],
          { from: from, to: to, label: "Completed paths per " + (step / 60) + "-minute bucket (UTC): " +
            resolved + " resolved and " + abandoned + " abandoned from " +
            utcStamp(t.items[0].bucket) + " to " + utcStamp(t.items.at(-1).bucket) }),
      ],
      head: ["bucket_start_utc", "bucket_unix", "completed", "resolved", "abandoned"],
      rows: t.items.map((b) => [utcStamp(b.bucket), b.bucket, b.completed, b.resolved, b.abandoned]),
    }));
  }
  function drawTopPaths(t) {
    if (!t.items.length) return empty("top-paths");
    show("top-paths", (w) => ({
      nodes: [Charts.hbars(w, t.items.map((p) => ({
        label: p.path.map(shortPage).join(" → "), value: p.count, color: "var(--ok)",
        text: fmt(p.count) + (p.count === 1 ? " path" : " paths") })),
        { label: "Most common paths to resolution" })],
      head: ["path", "path_names", "count"],
      rows: t.items.map((p) => [p.path.join(">"), p.path.map(shortPage).join(">"), p.count]),
    }));
  }
  function drawTimeStats(name, r, extra) {
    if (!r.tickets && !(extra && extra.length)) return empty(name, "No tickets yet.");
    const rows = [["min", r.min_hours], ["p50", r.p50_hours], ["average", r.avg_hours],
                  ["p90", r.p90_hours], ["max", r.max_hours]];
    show(name, (w) => ({
      nodes: [Charts.tiles([["tickets", fmt(r.tickets)], ...(extra || [])]),
        Charts.hbars(w, rows.map(([label, v]) => ({ label: label, value: v,
          text: v === null ? "–" : fmt(v) + " h" })), { label: name + " in hours" })],
      head: ["statistic", "hours"], rows: rows,
    }));
  }
  function drawAgentsPerTicket(rows) {
    if (!rows.length) return empty("agents-per-ticket", "No resolved tickets yet.");
    show("agents-per-ticket", (w) => ({
      nodes: [Charts.hbars(w, rows.map((r) => ({
        label: r.number_of_agents + (r.number_of_agents === 1 ? " agent" : " agents"),
        value: r.number_of_tickets, text: fmt(r.number_of_tickets) + " tickets" })),
        { label: "Resolved tickets by number of agents involved" })],
      head: ["number_of_agents", "number_of_tickets"],
      rows: rows.map((r) => [r.number_of_agents, r.number_of_tickets]),
    }));
  }
  function agentName(r) { return r.agent || "agent #" + r.agent_id; }
  function drawTicketsPerAgent(rows) {
    if (!rows.length) return empty("tickets-per-agent", "No agents yet.");
    const top = rows.slice().sort((a, b) => b.number_of_tickets - a.number_of_tickets).slice(0, 15);
    show("tickets-per-agent", (w) => ({
      nodes: [Charts.hbars(w, top.map((r) => ({ label: agentName(r), value: r.number_of_tickets })),
        { label: "Resolved tickets per agent, top " + top.length }),
        rows.length > top.length ? el("p", { class: "legend" }, "Top " + top.length + " of " +
          rows.length + " agents; all in the table.") : null],
      head: ["agent_id", "agent", "number_of_tickets"],
      rows: rows.map((r) => [r.agent_id, r.agent, r.number_of_tickets]),
    }));
  }
  function drawByMonth(rows) {
    if (!rows.length) return empty("resolution-time-by-month", "No resolved tickets yet.");
    show("resolution-time-by-month", (w) => ({
      nodes: [Charts.ranges(w, rows.map((r) => ({ label: r.month + " (" + r.tickets + ")",
        min: r.min_hours, avg: r.avg_hours, max: r.max_hours })),
        { unit: " h", label: "Resolution time by month: range and average" })],
      head: ["month", "tickets", "min_hours", "avg_hours", "max_hours"],
      rows: rows.map((r) => [r.month, r.tickets, r.min_hours, r.avg_hours, r.max_hours]),
    }));
  }
  function drawRatings(rows) {
    const rated = rows.filter((r) => r.rated_tickets > 0);
    if (!rated.length) return empty("agent-ratings", "No rated tickets yet.");
    const top = rated.slice().sort((a, b) => b.avg_rating - a.avg_rating).slice(0, 15);
    show("agent-ratings", (w) => ({
      nodes: [Charts.hbars(w, top.map((r) => ({
        label: agentName(r) + " (" + r.rated_tickets + " rated, " + r.min_rating + "–" +
          r.max_rating + ")", value: r.avg_rating, text: fmt(r.avg_rating) + " / 5",
        color: "var(--acc2)" })), { max: 5, label: "Average rating per agent" })],
      head: ["agent_id", "agent", "rated_tickets", "min_rating", "avg_rating", "max_rating"],
      rows: rows.map((r) => [r.agent_id, r.agent, r.rated_tickets, r.min_rating, r.avg_rating,
                             r.max_rating]),
    }));
  }
  function drawCsat(c) {
    if (!c.responses) return empty("csat", "No ratings yet.");
    const rows = [["satisfied (4–5)", c.satisfied], ["other (1–3)", c.responses - c.satisfied]];
    show("csat", (w) => ({
      nodes: [Charts.tiles([["CSAT (ratings 4–5)", pct(c.csat)], ["responses", fmt(c.responses)]]),
        Charts.hbars(w, rows.map(([label, v], i) => ({ label: label, value: v,
          color: i ? "var(--bad)" : "var(--ok)" })), { label: "Satisfied and other ratings" })],
      head: ["group", "tickets"], rows: rows,
    }));
  }

  // ---- experiments (GET /v1/experiments/compare) and deflection ---------------------
  function pp(v) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pp"; }
  function signed(v) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + fmt(v); }
  function drawComparison(c) {
    const r = c.resolution_rate, l = c.path_length;
    const b = c.baseline, v = c.variant;
    const srm = c.sample_ratio_mismatch || {};
    show("variant-comparison", (w) => ({
      nodes: [
        el("p", { class: "verdict" }, "Verdict for " + v.variant + " against " + b.variant + ": " +
           c.verdict),
        srm.suspect ? el("p", { class: "warning", role: "alert" }, "Sample ratio mismatch: the " +
           "split of completed paths is implausible (p = " + fmt(srm.p_value, 4) + "); check the " +
           "assignment before trusting these results.") : null,
        Charts.intervals(w, [
          { label: "Resolution rate: " + pct(v.resolution_rate) + " vs " + pct(b.resolution_rate),
            difference: r.difference, low: r.ci_low, high: r.ci_high,
            text: pp(r.difference) + " [" + pp(r.ci_low) + ", " + pp(r.ci_high) + "] p = " +
              fmt(r.p_value, 3) + " → " + r.verdict },
          { label: "Path length: " + fmt(v.average_path_length) + " vs " + fmt(b.average_path_length),
            difference: l.difference, low: l.ci_low, high: l.ci_high,
            text: signed(l.difference) + " pages [" + signed(l.ci_low) + ", " + signed(l.ci_high) +
              "] p = " + fmt(l.p_value, 3) + " → " + l.verdict },
        ], { label: "Differences " + v.variant + " − " + b.variant + " with 95 % intervals" }),
        el("p", { class: "legend" }, "Bars: 95 % intervals of " + v.variant + " − " + b.variant +
           "; the vertical line is no difference. Paths needed per variant: " +
           fmt(c.required_paths_per_variant)),
      ],
      head: ["variant", "completed_paths", "resolved_paths", "resolution_rate",
             "average_path_length", "path_length_variance", "turnaround_rate"],
      rows: [b, v].map((s) => [s.variant, s.completed_paths, s.resolved_paths, s.resolution_rate,
        s.average_path_length, s.path_length_variance, s.turnaround_rate]),
    }));
  }
  function chooseVariants(names) {
    const form = $("#compare-form");
    const base = form.elements.baseline, cand = form.elements.candidate;
    const keep = [base.value, cand.value];
    for (const select of [base, cand]) {
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    }
    const first = (...wants) => wants.find((w) => names.includes(w));
    base.value = first(keep[0], "A", "default", names[0]);
    const others = names.filter((n) => n !== base.value);
    cand.value = first(keep[1] !== base.value ? keep[1] : undefined, "B", ...others);
    return [base.value, cand.value];
  }
  async function loadComparison(pf) {
    const names = (await api("/v1/metrics/variants")).variants;
    $("#variant-list").replaceChildren(...names.map((v) => el("option", { value: v })));
    if (names.length < 2) return empty("variant-comparison", "Two variants are needed to compare.");
    const [baseline, variant] = chooseVariants(names);
    try {
      drawComparison(await api("/v1/experiments/compare",
        { baseline: baseline, variant: variant, since: pf.since, until: pf.until }));
    } catch (e) {
      if (e instanceof NotAvailable) notAvailable("variant-comparison", "The experiments API");
      else throw e;
    }
  }
  function drawDeflection(d) {
    if (!d.completed_paths) return empty("deflection", "No completed paths yet.");
    const items = d.items.slice(0, 10);
    show("deflection", (w) => ({
      nodes: [
        Charts.tiles([["deflection rate", pct(d.deflection_rate)],
          ["escalation rate", pct(d.escalation_rate)], ["escalated paths", fmt(d.escalated_paths)],
          ["completed paths", fmt(d.completed_paths)]]),
        items.length ? el("p", { class: "legend" }, "Last pages before a ticket:") : null,
        items.length ? Charts.hbars(w, items.map((i) => ({ label: pageName(i.page_id),
          value: i.escalations, color: "var(--warn)", text: fmt(i.escalations) + " tickets" })),
          { label: "Pages where escalated paths ended" }) : null,
      ],
      head: ["page_id", "page_name", "escalations"],
      rows: d.items.map((i) => [i.page_id, pageNames.get(i.page_id) || "", i.escalations]),
    }));
  }
  async function loadDeflection(pf) {
    try { drawDeflection(await api("/v1/metrics/deflection", pf)); } catch (e) {
      if (e instanceof NotAvailable) notAvailable("deflection", "The deflection API");
      else throw e;
    }
  }
  async function loadPageNames() {
    try {
      const body = await api("/v1/pages");
      pageNames = new Map(body.items.map((p) => [p.page_id, p.name]));
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      pageNames = new Map(); // no page names on this server (yet): ids are shown
    }
  }

  // ---- loading ------------------------------------------------------------------------------
  async function section(names, work) {
    try { await work(); } catch (e) {
      if (e instanceof Unauthorized) throw e;
      for (const n of names) message(n, "Could not load: " + e.message, "error");
    }
  }
  async function refresh() {
    const mine = ++generation;
    const f = filters();
    const pf = f.paths, rf = f.reports;
    $("#status").textContent = "Loading…";
    try {
      await loadOffered();
      await loadPageNames();
      await Promise.all([
        section(["path-length"], () => loadPathLength(pf)),
        section(["flagged-pages"], async () => drawPages(await api("/v1/metrics/pages", pf))),
        section(["paths-over-time"], async () => drawTimeline(
          await api("/v1/metrics/paths/timeline", { ...pf, bucket: f.bucket }), pf)),
        section(["top-paths"], async () => drawTopPaths(
          await api("/v1/metrics/top-paths", { ...pf, limit: 10 }))),
        section(["variant-comparison"], () => loadComparison(pf)),
        section(["deflection"], () => loadDeflection(pf)),
        section(["resolution-time"], async () => drawTimeStats("resolution-time",
          await api("/v1/reports/resolution-time", rf))),
        section(["agents-per-ticket"], async () => drawAgentsPerTicket(
          await api("/v1/reports/agents-per-ticket", rf))),
        section(["tickets-per-agent"], async () => drawTicketsPerAgent(
          await api("/v1/reports/tickets-per-agent", rf))),
        section(["resolution-time-by-month"], async () => drawByMonth(
          await api("/v1/reports/resolution-time-by-month", rf))),
        section(["agent-ratings"], async () => drawRatings(
          await api("/v1/reports/agent-ratings", rf))),
        section(["first-response-time"], async () => {
          const r = await api("/v1/reports/first-response-time", rf);
          drawTimeStats("first-response-time", r, [["unanswered", fmt(r.unanswered_tickets)]]);
        }),
        section(["csat"], async () => drawCsat(await api("/v1/reports/csat", rf))),
      ]);
      if (mine === generation) $("#status").textContent = "Updated " + utcStamp(Date.now() / 1000);
    } catch (e) {
      if (e instanceof Unauthorized) forget("That key was not accepted (unknown or revoked).");
      else $("#status").textContent = "Error: " + e.message;
    }
  }

  // ---- live updates: /v1/metrics/stream read with fetch() (EventSource cannot send headers)
  function setLive(on) {
    $("#live").classList.toggle("on", on);
    $("#live-text").textContent = on ? "live" : "not live";
  }
  function stopLive() {
    if (liveAbort) liveAbort.abort();
    liveAbort = null;
    setLive(false);
  }
  function onEvent(event, payload, first) {
    if (event === "paths") drawPathLength(payload, lastHist);
    else if (event === "pages") drawPages(payload);
    else if (event === "reports") drawTimeStats("resolution-time", payload);
    // Something changed: bring the charts the stream does not carry up to date too.
    if (!first && event === "paths") scheduleRefresh();
  }
  async function startLive() {
    stopLive();
    const controller = new AbortController();
    liveAbort = controller;
    const f = filters();
    const url = new URL("/v1/metrics/stream", location.origin);
    for (const [k, v] of Object.entries({ ...f.paths, ...f.reports })) {
      if (v) url.searchParams.set(k, v);
    }
    try {
      const response = await fetch(url, {
        headers: { Authorization: "Bearer " + getKey(), Accept: "text/event-stream" },
        signal: controller.signal, cache: "no-store", credentials: "omit",
      });
      if (response.status === 401) return forget("That key was not accepted (unknown or revoked).");
      if (!response.ok || !response.body) throw new Error("stream: " + response.status);
      setLive(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      const seen = new Set();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (!data) continue;
          onEvent(event, JSON.parse(data), !seen.has(event));
          seen.add(event);
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    } finally {
      if (liveAbort === controller) setLive(false);
    }
    if (liveAbort === controller && getKey()) setTimeout(() => {
      if (liveAbort === controller) startLive();
    }, 3000);
  }
  let pending = null;
  function scheduleRefresh() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 2000);
  }

  function open() {
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#logout").hidden = false;
    $("#login-error").textContent = "";
    refresh();
    startLive();
    clearInterval(refreshTimer);
    refreshTimer = setInterval(refresh, 60000);
  }

  // ---- wiring -----------------------------------------------------------------------------
  document.querySelectorAll("[data-chart]").forEach((node) => resized.observe(node));
  const categories = document.querySelector('select[name="category"]');
  CATEGORIES.forEach((c) => categories.append(el("option", { value: c }, c)));
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.querySelector('input[name="api_key"]');
    const key = input.value.trim();
    input.value = "";
    if (!key) return;
    setKey(key);
    open();
  });
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
    startLive();
  });
  $("#filters").addEventListener("reset", () => setTimeout(() => { refresh(); startLive(); }, 0));
  $("#compare-form").addEventListener("change", () => {
    section(["variant-comparison"], () => loadComparison(filters().paths));
  });
  $("#logout").addEventListener("click", () => forget("Key forgotten."));
  if (getKey()) open(); else forget("");
})();
