// The dashboard: counts and per-second traffic every two seconds, model versions,
// click-through and the last evaluation report every fifteen. Charts use Chart.js, built from
// the npm registry into static/vendor by `make install`; without it the figures still update.
import { boot, el, fmt } from "./console.js";

const $ = (id) => document.getElementById(id);
const STATS_EVERY_MS = 2000;
const PANELS_EVERY_MS = 15000;
const WINDOW_S = 300;

boot(async (session) => {
  const charts = await loadCharts(session.config);
  let serving = null;
  const tick = async () => {
    const version = await updateStats(session, charts);
    // A promotion or rollback shows at once, not at the next panel refresh.
    if (version !== undefined && serving !== null && version !== serving) await updateModels(session);
    if (version !== undefined) serving = version;
  };
  await tick();
  setInterval(tick, STATS_EVERY_MS);
  const panels = () => Promise.all([updateModels(session), updateFeedback(session), showReport(session)]);
  await panels();
  setInterval(panels, PANELS_EVERY_MS);
});

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = el("script", { src });
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
    document.head.append(script);
  });
}

async function loadCharts(config) {
  const notice = $("charts-notice");
  if (!config.charts) {
    notice.hidden = false;
    notice.textContent =
      "Charts are off: the chart library was not built (run `make install`, which builds ui/). The figures above still update.";
    return null;
  }
  try {
    await loadScript("/ui/static/vendor/chart.umd.min.js");
  } catch (err) {
    notice.hidden = false;
    notice.textContent = `Charts are off: ${err.message}.`;
    return null;
  }
  const Chart = window.Chart;
  const options = (unit) => ({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    elements: { point: { radius: 0 }, line: { borderWidth: 2 } },
    scales: {
      x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } },
      y: { beginAtZero: true, title: { display: true, text: unit } },
    },
  });
  // Quiet seconds have no latency: those gaps are bridged, and each measured second is a dot.
  const line = (label, color, gaps) => ({ label, data: [], borderColor: color, backgroundColor: color, spanGaps: gaps, pointRadius: gaps ? 2 : 0 });
  return {
    events: new Chart($("chart-events"), {
      type: "line",
      data: { labels: [], datasets: [line("events/s", "#0b5cad", false)] },
      options: options("events/s"),
    }),
    latency: new Chart($("chart-latency"), {
      type: "line",
      data: { labels: [], datasets: [line("p50", "#1a7f37", true), line("p99", "#b42318", true)] },
      options: options("ms"),
    }),
  };
}

function tile(name, value, digits = 0) {
  const node = $(`tile-${name}`);
  node.textContent = fmt(value, digits);
  node.dataset.value = value === null ? "" : String(value);
}

async function updateStats(session, charts) {
  let stats;
  try {
    stats = await session.call("/v1/stats", { params: [["window", WINDOW_S]] });
  } catch (err) {
    $("updated").textContent = `not updated: ${err.message}`;
    return;
  }
  tile("users", stats.users);
  tile("items", stats.items);
  tile("events", stats.events);
  tile("rate", stats.events_per_s, 2);
  tile("p50", stats.recommend_p50_ms, 2);
  tile("p99", stats.recommend_p99_ms, 2);
  tile("model", stats.model_version);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  if (charts) drawCharts(charts, stats);
  return stats.model_version;
}

function drawCharts(charts, stats) {
  const labels = stats.series.map((p) => new Date(p.time * 1000).toLocaleTimeString("en-GB"));
  charts.events.data.labels = labels;
  charts.events.data.datasets[0].data = stats.series.map((p) => p.events);
  charts.latency.data.labels = labels;
  charts.latency.data.datasets[0].data = stats.series.map((p) => p.p50_ms);
  charts.latency.data.datasets[1].data = stats.series.map((p) => p.p99_ms);
  charts.events.update("none");
  charts.latency.update("none");
}

function table(caption, head, rows, rowClass = () => null, rowData = () => ({})) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, ...head.map(([text, num]) => el("th", { scope: "col", class: num ? "num" : null }, text)))),
      el("tbody", {}, ...rows.map((cells, i) => el("tr", { class: rowClass(i), dataset: rowData(i) }, ...cells))),
    ),
  );
}

const num = (value, digits = 0) => el("td", { class: "num" }, fmt(value, digits));
const pct = (value) => el("td", { class: "num" }, value === null || value === undefined ? "–" : `${fmt(value * 100, 1)}%`);

// Metric columns: ranking metrics first, at most six; `parent_<m>` is shown under `<m>` (the
// parent scored on the same held-out events). Counts (`*_events`, `epoch`) are not metrics:
// the events a version learned from have their own column.
const MAX_METRICS = 6;
function metricNames(versions) {
  const all = new Set(versions.flatMap((v) => Object.keys(v.metrics)));
  const rank = (n) => (/(^|_)(hr|ndcg)@/.test(n) ? (n.startsWith("valid_") ? 1 : 0) : 2);
  return [...all]
    .filter((n) => !n.startsWith("parent_") && !n.endsWith("_events") && n !== "epoch")
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .slice(0, MAX_METRICS);
}

function metricCell(v, name) {
  const parent = v.metrics[`parent_${name}`];
  return el(
    "td",
    { class: "num", dataset: { metric: name } },
    fmt(v.metrics[name], 4),
    parent === undefined ? null : el("small", { class: "sub" }, `parent ${fmt(parent, 4)}`),
  );
}

async function updateModels(session) {
  const box = $("models");
  if (!session.config.features.models) {
    box.replaceChildren(el("p", { class: "hint" }, "No model registry: this server serves a single checkpoint."));
    $("experiment").replaceChildren(el("p", { class: "hint" }, "No model registry: nothing to test against the served model."));
    return;
  }
  try {
    const found = await session.call("/v1/models");
    await updateExperiment(session, found.experiment);
    const names = metricNames(found.versions);
    const versions = [...found.versions].reverse();
    const marks = (v) => [
      v.version === found.current ? el("span", { class: "badge" }, "current") : null,
      v.version === found.serving && found.serving !== found.current ? el("span", { class: "badge serving" }, "serving") : null,
    ];
    box.replaceChildren(
      table(
        found.serving === found.current
          ? `Newest first; version ${found.current} is current and serving.`
          : `Newest first; version ${found.current ?? "–"} is current, this server still serves ${found.serving}.`,
        [["Version"], ["Created"], ["Status"], ["Parent", true], ["Trained on", true], ...names.map((n) => [n, true]), ["Note"]],
        versions.map((v) => [
          el("td", { class: "version" }, el("span", { class: "vnum" }, v.version), ...marks(v)),
          el("td", {}, new Date(v.created).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" })),
          el("td", {}, v.status),
          el("td", { class: "num" }, v.parent ?? "–"),
          el("td", { class: "num", title: "events in the version's data window" }, fmt(v.data_window.events)),
          ...names.map((n) => metricCell(v, n)),
          el("td", { class: "note" }, v.note || ""),
        ]),
        (i) => [versions[i].version === found.current ? "current" : null, versions[i].version === found.serving ? "serving" : null].filter(Boolean).join(" ") || null,
        (i) => ({ version: versions[i].version }),
      ),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

const signed = (value, digits) => `${value > 0 ? "+" : ""}${fmt(value, digits)}`;

// The registry's latest A/B test: each arm's rates with their 95% Wilson intervals, and the
// challenger's difference with its 95% interval (GET /v1/models/experiment/compare).
async function updateExperiment(session, experiment) {
  const box = $("experiment");
  if (!experiment) {
    box.replaceChildren(el("p", { class: "hint" }, "No online A/B test has run. Start one with: attune models ab start VERSION --share 0.2"));
    return;
  }
  try {
    const c = await session.call("/v1/models/experiment/compare");
    const rate = (r) => el("td", { class: "num" }, `${fmt(r.value * 100, 2)}%`, el("small", { class: "sub" }, `${fmt(r.low * 100, 2)} – ${fmt(r.high * 100, 2)}%`));
    const diff = (name, d) =>
      el(
        "p",
        { class: "hint", dataset: { significant: String(d.significant) } },
        `${name}, challenger − control: ${signed(d.value * 100, 2)} points (95% CI ${signed(d.low * 100, 2)} to ${signed(d.high * 100, 2)}), p = ${fmt(d.p_value, 3)}: ${d.significant ? "significant" : "not significant"}.`,
      );
    const state = experiment.stopped ? `stopped ${new Date(experiment.stopped).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" })}` : "running";
    box.replaceChildren(
      table(
        `Experiment ${experiment.id}: version ${experiment.challenger} for ${fmt(experiment.share * 100, 0)}% of users against version ${experiment.control}; ${state}.`,
        [["Arm"], ["Version", true], ["Lists", true], ["Shown", true], ["Clicks", true], ["CTR (95% CI)", true], ["Conversions", true], ["Conv. rate (95% CI)", true]],
        c.arms.map((a) => [el("td", {}, a.arm), num(a.model_version), num(a.lists), num(a.items), num(a.clicks), rate(a.ctr), num(a.conversions), rate(a.conversion_rate)]),
        () => null,
        (i) => ({ arm: c.arms[i].arm }),
      ),
      diff("Click-through", c.ctr),
      diff("Conversion", c.conversion),
      el("p", { id: "experiment-winner", dataset: { winner: c.winner ?? "" } }, c.winner ? `Winner: ${c.winner} (click-through, 95%).` : "No significant winner (click-through, 95%)."),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

async function updateFeedback(session) {
  const box = $("feedback");
  if (!session.config.features.feedback) {
    box.replaceChildren(el("p", { class: "hint" }, "No feedback log: this server does not record click-through."));
    return;
  }
  try {
    const fb = await session.call("/v1/feedback");
    const meter = (value) => el("td", {}, el("meter", { min: 0, max: 1, value: value || 0, "aria-label": `CTR ${fmt((value || 0) * 100, 1)}%` }));
    box.replaceChildren(
      table(
        "Per model version",
        [["Version", true], ["Lists", true], ["Shown", true], ["Clicks", true], ["Conversions", true], ["CTR", true], ["Conv. rate", true]],
        fb.by_version.map((v) => [
          num(v.model_version), num(v.lists), num(v.items), num(v.clicks), num(v.conversions), pct(v.ctr), pct(v.conversion_rate),
        ]),
      ),
      table(
        "Per reason",
        [["Version", true], ["Reason"], ["Shown", true], ["Clicks", true], ["Conversions", true], ["CTR", true], [""]],
        fb.by_reason.map((r) => [
          num(r.model_version), el("td", {}, el("span", { class: `kind kind-${r.reason}` }, r.reason)), num(r.items), num(r.clicks), num(r.conversions), pct(r.ctr), meter(r.ctr),
        ]),
      ),
      // Untagged: events that could have named a list (on an item shown to their user inside
      // the attribution window) and named none, so click-through misses them.
      el(
        "p",
        { class: "hint", id: "feedback-untagged", dataset: { value: fb.untagged ?? 0 } },
        `${fmt(fb.untagged ?? 0)} events on items shown to their user came without a recommendation id.`,
      ),
      el(
        "p",
        { class: "hint", id: "feedback-unattributed", dataset: { value: fb.unattributed } },
        `${fmt(fb.unattributed)} events named a recommendation id that matched no shown item (unknown or expired list, another item or user).`,
      ),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

let shownReport = null; // "name date" of the report on screen: redrawn only when a newer one lands
let plotUrls = [];

async function showReport(session) {
  const box = $("report");
  if (!session.config.features.report) {
    box.replaceChildren(
      el("p", { class: "hint" }, "No report: start the server with a report folder (ATTUNE_REPORT_DIR=bench/results) to show the newest evaluation report here."),
    );
    return;
  }
  try {
    const report = await session.call("/v1/reports/latest");
    const stamp = `${report.name} ${report.date}`;
    if (stamp === shownReport) return;
    const figures = [];
    for (const name of report.plots) {
      const blob = await session.call(`/v1/reports/plots/${encodeURIComponent(name)}`, { raw: true });
      const url = URL.createObjectURL(blob);
      figures.push([name, url]);
    }
    const facts = [["Report", report.name], ["Written", report.date], ["Command", report.command], ["Commit", report.commit], ["Machine", report.machine]];
    box.replaceChildren(
      el("dl", { class: "facts" }, ...facts.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el(
        "div",
        { class: figures.length ? "report-body" : null },
        table("Metrics", [["Metric"], ["Value", true]], Object.entries(report.metrics).map(([k, v]) => [el("td", {}, k), num(v, 4)])),
        figures.length
          ? el("div", { class: "plots" }, ...figures.map(([name, url]) => el("figure", {}, el("img", { src: url, alt: `Plot ${name} of report ${report.name}` }), el("figcaption", {}, name))))
          : el("p", { class: "hint" }, "This report has no plots."),
      ),
    );
    for (const url of plotUrls) URL.revokeObjectURL(url);
    plotUrls = figures.map(([, url]) => url);
    shownReport = stamp;
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
  }
}
