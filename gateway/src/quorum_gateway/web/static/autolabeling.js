// The console's automated-labeling page of a job (#/jobs/<id>/auto-labeling), from
// GET /v1/jobs/{id}/auto-labeling: the cost against an all-human job, a chart of the objects per iteration
// (human-labeled, machine-labeled, failed, not labeled yet, and the objects sent to humans so far), a chart of
// the machine labels' estimated accuracy against the target, and a table of the iterations with their
// thresholds. The charts are inline SVG built here (no library); their colours are classes of style.css (the
// CSP allows no inline style), and each has a <title> and <desc> that say what it shows.
import { ApiError, clear, fmtMoney, h } from "./common.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const DEFAULT_TARGET = 0.95; // the API's 0
const DEFAULT_MIN_SIZE = 1250; // the API's 0
const DECISIONS = {
  continue: "continue",
  rest_to_humans: "the rest to humans",
  done: "done",
  budget_spent: "human budget spent",
};

// s("rect", {x: 1}, child, "text") -> an SVG element (text set as text, never markup).
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pct1 = (x) => `${(100 * Number(x || 0)).toFixed(1)} %`;
const dec2 = (x) => Number(x || 0).toFixed(2);

// A round tick step that cuts [0, max] into about n parts.
function niceStep(max, n = 4) {
  const raw = Math.max(max, 1) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// One column per iteration (its counts when it was committed) and a last "now" column (the job's counts now).
function columns(report) {
  let sent = 0;
  const cols = report.iterations.map((it) => {
    sent += it.sent_to_humans;
    const failed = Math.max(0, report.objects - it.human_labeled_total - it.machine_labeled_total - it.unlabeled);
    return { key: String(it.iteration), name: `Iteration ${it.iteration}`, human: it.human_labeled_total,
      machine: it.machine_labeled_total, failed, open: it.unlabeled, sent };
  });
  const open = Math.max(0, report.objects - report.human_labeled - report.machine_labeled - report.failed);
  cols.push({ key: "now", name: "Now", human: report.human_labeled, machine: report.machine_labeled,
    failed: report.failed, open, sent });
  return cols;
}

const SERIES = [
  ["human", "Human-labeled"],
  ["machine", "Machine-labeled"],
  ["failed", "Failed"],
  ["open", "Not labeled yet"],
];

function legend(items) {
  return h("ul", { class: "chart-legend" }, items.map(([cls, text]) => h("li", {}, h("span", { class: `swatch ${cls}` }), text)));
}

// Stacked bars: per column, the human-, machine-labeled, failed and still unlabeled objects (the bar's full
// height is every object: what an all-human job labels by hand), and a line of the objects sent to humans.
function objectsChart(report, id) {
  const cols = columns(report);
  const W = 640, H = 280, L = 56, R = 16, T = 16, B = 44;
  const max = Math.max(report.objects, 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const slot = (W - L - R) / cols.length;
  const bw = Math.min(56, slot * 0.6);
  const cx = (i) => L + slot * (i + 0.5);
  const step = niceStep(max);
  const ticks = [];
  for (let v = 0; v <= max + 1e-9; v += step) ticks.push(v);
  const describe = cols.map((c) => `${c.name}: ${c.human} human-labeled, ${c.machine} machine-labeled, ` +
    `${c.failed} failed, ${c.open} not labeled yet, ${c.sent} sent to humans so far`).join("; ");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": `${id}-title ${id}-desc`,
    "data-testid": "auto-labeling-chart" },
  s("title", { id: `${id}-title` }, `Objects per iteration of ${report.objects}: human- and machine-labeled`),
  s("desc", { id: `${id}-desc` }, describe),
  ticks.map((v) => s("g", { class: "tick" },
    s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }),
    s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)))),
  s("text", { x: 14, y: T + (H - T - B) / 2, class: "axis-title", "text-anchor": "middle",
    transform: `rotate(-90 14 ${T + (H - T - B) / 2})` }, "objects"),
  cols.map((c, i) => {
    let top = c.human + c.machine + c.failed + c.open;
    const parts = [];
    for (const [key] of [...SERIES].reverse()) { // drawn from the top down
      const v = c[key];
      if (v > 0) parts.push(s("rect", { x: cx(i) - bw / 2, y: y(top), width: bw, height: Math.max(0, y(top - v) - y(top)), class: `bar ${key}` }));
      top -= v;
    }
    return s("g", { class: "column", "data-column": c.key, "data-human": c.human, "data-machine": c.machine, "data-sent": c.sent },
      s("title", {}, `${c.name}: ${c.human} human-labeled, ${c.machine} machine-labeled, ${c.failed} failed, ${c.open} not labeled yet; ${c.sent} sent to humans so far`),
      parts,
      s("text", { x: cx(i), y: H - B + 16, "text-anchor": "middle" }, c.key));
  }),
  s("polyline", { class: "sent-line", points: cols.map((c, i) => `${cx(i)},${y(c.sent)}`).join(" ") }),
  cols.map((c, i) => s("circle", { class: "sent-dot", cx: cx(i), cy: y(c.sent), r: 3.5 })),
  s("text", { x: L + (W - L - R) / 2, y: H - 8, class: "axis-title", "text-anchor": "middle" }, "iteration"));
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", {}, legend([...SERIES.map(([k, t]) => [k, t]), ["sent", "Sent to humans (cumulative)"]])));
}

// The estimated accuracy of the machine labels per model iteration (its validation objects above their
// thresholds), the accuracy of all the model's validation predictions, and the requester's target.
function accuracyChart(report, target, id) {
  const its = report.iterations.filter((it) => it.model_version > 0);
  const W = 640, H = 200, L = 56, R = 16, T = 14, B = 40;
  const values = its.flatMap((it) => [it.estimated_accuracy, it.validation_accuracy]).filter((v) => v > 0);
  const lo = Math.max(0, Math.floor((Math.min(target, ...values) - 0.05) * 10) / 10);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (1 - lo));
  const n = Math.max(its.length, 1);
  const slot = (W - L - R) / n;
  const cx = (i) => L + slot * (i + 0.5);
  const ticks = [];
  for (let v = lo; v <= 1 + 1e-9; v += 0.1) ticks.push(Math.round(v * 10) / 10);
  const describe = its.length
    ? its.map((it) => `Iteration ${it.iteration}: estimated ${pct1(it.estimated_accuracy)}, all validation predictions ${it.n_validation ? pct1(it.validation_accuracy) : "not measured"}`).join("; ")
    : "No model yet: humans are labeling the first batch.";
  // Only measured points: a version that certified nothing has no estimate, one trained between looks no
  // held-out predictions (0 in the report).
  const line = (key, cls) => {
    const points = its.map((it, i) => [it, i]).filter(([it]) => it[key] > 0);
    return [
      s("polyline", { class: cls, points: points.map(([it, i]) => `${cx(i)},${y(it[key])}`).join(" ") }),
      points.map(([it, i]) => s("circle", { class: `${cls}-dot`, cx: cx(i), cy: y(it[key]), r: 3.5 },
        s("title", {}, `Iteration ${it.iteration}: ${pct1(it[key])}`))),
    ];
  };
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": `${id}-title ${id}-desc`,
    "data-testid": "auto-labeling-accuracy" },
  s("title", { id: `${id}-title` }, `Estimated accuracy of machine labels per iteration; target ${pct1(target)}`),
  s("desc", { id: `${id}-desc` }, describe),
  ticks.map((v) => s("g", { class: "tick" },
    s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }),
    s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(1)))),
  s("line", { class: "target-line", x1: L, x2: W - R, y1: y(target), y2: y(target) }),
  s("text", { x: W - R - 4, y: y(target) - 5, "text-anchor": "end", class: "target-label" }, `target ${dec2(target)}`),
  its.length ? [line("validation_accuracy", "val-line"), line("estimated_accuracy", "est-line")]
    : s("text", { x: L + (W - L - R) / 2, y: T + (H - T - B) / 2, "text-anchor": "middle", class: "muted-text" }, "No model yet"),
  its.map((it, i) => s("text", { x: cx(i), y: H - B + 16, "text-anchor": "middle" }, String(it.iteration))),
  s("text", { x: L + (W - L - R) / 2, y: H - 6, class: "axis-title", "text-anchor": "middle" }, "iteration"));
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", {}, legend([["est", "Estimated accuracy of machine labels"], ["val", "Accuracy of all validation predictions"],
      ["target", "Target accuracy"]])));
}

function thresholdsCell(it) {
  if (!it.thresholds.length) return h("td", {}, "–");
  return h("td", {}, h("ul", { class: "thresholds" }, it.thresholds.map((t) => h("li", {},
    h("strong", {}, t.category), ": ", t.threshold === null ? "none" : `≥ ${t.threshold.toFixed(3)}`,
    " ", h("span", { class: "muted" }, `(n ${t.support}, accuracy ${dec2(t.accuracy)}, lower bound ${dec2(t.lower_bound)})`)))));
}

function iterationsTable(report) {
  const head = ["Iteration", "Model", "Trained on", "Validation", "Validation accuracy", "Thresholds", "Estimated accuracy",
    "Machine-labeled", "Sent to humans", "Human total", "Machine total", "Not labeled", "Decision", "At"];
  return h("div", { class: "table-scroll", role: "region", "aria-label": "Iterations", tabindex: 0 },
    h("table", { class: "grid", "data-testid": "auto-labeling-iterations" },
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, report.iterations.map((it) => {
        const model = it.model_version > 0;
        return h("tr", { "data-iteration": it.iteration },
          h("th", { scope: "row" }, it.iteration === 0 ? "0 (random first batch)" : String(it.iteration)),
          h("td", { class: "num" }, model ? `v${it.model_version}` : "–"),
          h("td", { class: "num" }, model ? it.n_train : "–"),
          // n_validation 0: trained between looks at certification, without held-out predictions.
          h("td", { class: "num" }, model && it.n_validation ? it.n_validation : model ? "– (between looks)" : "–"),
          h("td", { class: "num" }, model && it.n_validation ? pct1(it.validation_accuracy) : "–"), thresholdsCell(it),
          h("td", { class: "num" }, model && it.machine_labeled ? pct1(it.estimated_accuracy) : "–"),
          h("td", { class: "num" }, it.machine_labeled), h("td", { class: "num", "data-testid": "sent-to-humans" }, it.sent_to_humans),
          h("td", { class: "num" }, it.human_labeled_total), h("td", { class: "num" }, it.machine_labeled_total),
          h("td", { class: "num" }, it.unlabeled), h("td", {}, DECISIONS[it.decision] || it.decision),
          h("td", {}, it.created_at ? it.created_at.replace("T", " ").slice(0, 19) : "–"));
      }))));
}

function stat(label, big, detail, testid) {
  return h("div", { class: "stat", "data-testid": testid || null }, h("span", { class: "muted" }, label),
    h("span", { class: "big" }, big), detail ? h("span", { class: "muted" }, detail) : null);
}

export async function showAutoLabeling(api, main, jobId, refresh) {
  const job = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}`);
  const top = [h("h1", {}, `Automated labeling: ${job.name}`),
    h("p", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}` }, "Labels of this job"), " ",
      h("button", { type: "button", onclick: () => refresh() }, "Refresh"))];
  let report;
  try {
    report = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}/auto-labeling`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 409) throw err;
    clear(main).append(...top, h("p", { class: "muted", role: "status" }, "This job does not use automated labeling."));
    return;
  }
  const set = report.settings;
  const target = set.target_accuracy || DEFAULT_TARGET;
  const seq = `al-${Date.now().toString(36)}`;
  const share = (n) => (report.objects ? ` (${Math.round((100 * n) / report.objects)} % of ${report.objects})` : "");
  clear(main).append(...top,
    h("p", { "data-testid": "auto-labeling-settings" }, `${job.task_type} · ${job.status} · target accuracy ${dec2(target)}` +
      `${set.target_accuracy ? "" : " (default)"} · minimum dataset size ${set.min_dataset_size || DEFAULT_MIN_SIZE} · ` +
      `maximum human-labeled objects: ${set.max_human_labeled || "no limit"} · ` +
      `answers per validation object: ${set.validation_workers_per_object || job.workers_per_object}`),
    h("section", { class: "stats", "aria-label": "Summary", "data-testid": "auto-labeling-summary" },
      stat("Human-labeled", report.human_labeled, share(report.human_labeled)),
      stat("Machine-labeled", report.machine_labeled, share(report.machine_labeled)),
      report.failed ? stat("Failed", report.failed, share(report.failed)) : null,
      stat("Human answers", report.human_answers),
      stat("Cost so far", fmtMoney(report.cost_usd), `all-human: ${fmtMoney(report.all_human_cost_usd)}`),
      stat("Cost saving", `${report.cost_saving_percent.toFixed(1)} %`, "vs an all-human job", "cost-saving"),
      stat("Objects humans never saw", `${report.human_objects_saving_percent.toFixed(1)} %`)),
    h("h2", {}, "Objects per iteration"),
    h("p", { class: "muted" }, "Each bar is every object of the job when the iteration was decided (the last one: now); " +
      "an all-human job labels the whole bar by hand."),
    objectsChart(report, `${seq}-objects`),
    h("h2", {}, "Accuracy of machine labels"),
    h("p", { class: "muted" }, "Estimated on human-labeled objects held out from the model that scored them " +
      "(cross-fitting), corrected for the human labels' own error rate; thresholds are chosen so that a lower " +
      "confidence bound of it reaches the target."),
    accuracyChart(report, target, `${seq}-accuracy`),
    h("h2", {}, "Iterations"),
    iterationsTable(report));
}
