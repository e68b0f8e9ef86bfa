// The requester console: jobs (list, create, stop, download), the label browser, workers and teams.
// Routes are URL fragments (#/jobs, #/jobs/new, #/jobs/<id>, #/jobs/<id>/auto-labeling, #/workers, #/teams); the
// API key lives in sessionStorage and goes in the Authorization header only.
import { Api, ApiError, clear, colorOf, fmtMoney, fmtPct, h, loadImage } from "./common.js";
import { showAutoLabeling } from "./autolabeling.js";
import { answerValue, isLabeled, labelOf } from "./labels.js";
import { TASK_TYPES } from "./tools/index.js";

const api = new Api("quorum.requesterKey");
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const CHAINED = ["label-verification", "adjustment"];
const AUTO_TYPES = ["text-classification", "image-classification"]; // automated labeling is for these

function navBar() {
  const here = location.hash.split("/")[1] || "jobs";
  const link = (href, text, key) => h("a", { href, "aria-current": here === key ? "page" : null }, text);
  clear(nav).append(link("#/jobs", "Jobs", "jobs"), link("#/jobs/new", "New job", "new"),
    link("#/workers", "Workers", "workers"), link("#/teams", "Teams", "teams"),
    h("button", { type: "button", onclick: () => { api.setToken(""); clear(nav); route(); } }, "Sign out"));
}

function showSignIn(pane, message) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card narrow" }, h("h1", {}, "Requester sign in"),
    h("label", { for: "api-key" }, "API key"), input,
    h("p", { class: "muted" }, "Kept in this tab only, sent in the Authorization header."),
    h("button", { type: "submit", class: "primary" }, "Sign in"), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    api.setToken(input.value.trim());
    try {
      await api.get("/v1/teams");
      // A new hash routes through the hashchange listener; routing here as well would render the page twice.
      if (!location.hash || location.hash === "#/") location.hash = "#/jobs";
      else await route();
    } catch (err) {
      api.setToken("");
      error.textContent = err.status === 401 ? "That API key is not valid." : err.message;
    }
  });
  clear(pane).append(form);
  setTimeout(() => input.focus()); // once the pane is shown
}

// Each route renders into a pane of its own, shown once it has content and only if no later route started: two
// pages loading at once finish in any order, and a slow, stale page must not replace (or add labels to) the one the
// user asked for since.
let latestRoute = 0;
async function route() {
  const mine = ++latestRoute;
  const pane = h("div");
  const show = new MutationObserver(() => {
    show.disconnect();
    if (mine === latestRoute) { clear(main).append(pane); main.focus(); }
  });
  show.observe(pane, { childList: true });
  if (!api.token) { showSignIn(pane); return; }
  navBar();
  const [, page, id, sub] = location.hash.split("/");
  try {
    if (page === "jobs" && id === "new") await showCreateJob(pane);
    else if (page === "jobs" && id && sub === "auto-labeling") await showAutoLabeling(api, pane, decodeURIComponent(id), route);
    else if (page === "jobs" && id) await showJob(pane, decodeURIComponent(id));
    else if (page === "workers") await showWorkers(pane);
    else if (page === "teams") await showTeams(pane);
    else await showJobs(pane);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { api.setToken(""); showSignIn(pane, "Please sign in again."); return; }
    clear(pane).append(h("p", { class: "error", role: "alert" }, err.message));
  }
}

async function download(job) {
  const resp = await api.get(`/v1/jobs/${job.job_id}/output`, { raw: true });
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: `${job.name}.output.manifest` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function showJobs(pane) {
  const jobs = (await api.get("/v1/jobs?page_size=200")).data;
  const message = h("p", { role: "status", class: "muted" });
  const rows = jobs.map((j) => {
    const c = j.counters;
    const done = ["completed", "stopped"].includes(j.status);
    const auto = j.auto_labeling && j.auto_labeling.enabled;
    return h("tr", { "data-job": j.job_id },
      h("td", {}, h("a", { href: `#/jobs/${j.job_id}` }, j.name)), h("td", {}, j.task_type),
      h("td", { "data-testid": "job-status" }, j.status),
      h("td", {}, h("progress", { class: "progress", max: 1, value: j.progress, "aria-label": `${j.name} progress` }), " ", fmtPct(j.progress)),
      h("td", { class: "num" }, c.human_labeled), h("td", { class: "num" }, c.machine_labeled),
      h("td", { class: "num" }, c.failed), h("td", { class: "num" }, c.unlabeled),
      h("td", { class: "num" }, fmtMoney(j.cost_usd)),
      h("td", { class: "row-actions" },
        auto ? h("a", { href: `#/jobs/${j.job_id}/auto-labeling`, "data-testid": "auto-labeling-link" }, "Auto-labeling") : null,
        j.status === "in_progress" ? h("button", { type: "button", onclick: async () => {
          try { await api.post(`/v1/jobs/${j.job_id}/stop`); await showJobs(pane); } catch (e) { message.textContent = e.message; }
        } }, `Stop ${j.name}`) : null,
        done ? h("button", { type: "button", onclick: () => download(j).catch((e) => { message.textContent = e.message; }) }, `Download ${j.name}`) : null));
  });
  clear(pane).append(h("h1", {}, "Jobs"), message,
    jobs.length ? h("table", { class: "grid" }, h("thead", {}, h("tr", {},
      ["Job", "Type", "Status", "Progress", "Human", "Machine", "Failed", "Remaining", "Cost", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)) : h("p", {}, "No job yet. ", h("a", { href: "#/jobs/new" }, "Create one")));
}

function field(id, label, input, help) {
  input.id = id;
  return h("div", {}, h("label", { for: id }, label), input, help ? h("p", { class: "muted" }, help) : null);
}

async function showCreateJob(pane) {
  const teams = (await api.get("/v1/teams")).data;
  const num = (name, value, attrs = {}) => h("input", { type: "number", name, value, ...attrs });
  const type = h("select", { name: "task_type" }, TASK_TYPES.map((t) => h("option", { value: t }, t)));
  const source = h("input", { type: "text", name: "source_label_attribute" });
  const sourceRow = field("f-source", "Previous label attribute", source, "Verification and adjustment jobs: the attribute of the previous job's output that holds its label.");
  // Known-answer (gold) objects: classification jobs only (the API refuses the field on other types).
  const knownRow = field("f-known", "Known-answer attribute", h("input", { type: "text", name: "known_answer_attribute", placeholder: "gold-label", maxlength: 256 }),
    "Classification jobs: manifest lines with this attribute are known-answer objects (its value: their class). Workers never see it; the objects keep their known class and measure each worker.");
  // Custom jobs: the requester's HTML form ({{ task.input.KEY }} filled from the manifest line) and which
  // answers the output keeps; sent only for custom jobs (the API refuses them on other types).
  const customRows = h("div", {},
    field("f-template", "Template (HTML)", h("textarea", { name: "template", rows: 8, maxlength: 100000 }),
      "{{ task.input.KEY }} is replaced by the manifest line's KEY; the form's submit returns the answer (see the portal docs)."),
    field("f-custom", "Answers kept", h("select", { name: "custom_consolidation" },
      h("option", { value: "majority" }, "majority: the answer most workers gave"),
      h("option", { value: "all" }, "all: every worker's answer"))));
  // Automated labeling (classification jobs): sent as one `auto_labeling` JSON object; its inputs have no
  // name, so the FormData loop below never sends them as fields of their own.
  const autoOn = h("input", { type: "checkbox", id: "f-auto" });
  const autoTarget = h("input", { type: "number", value: "0.95", min: "0.51", max: "0.99", step: "0.01", required: true });
  const autoMin = h("input", { type: "number", min: 100, step: 1, placeholder: "1250" });
  const autoMax = h("input", { type: "number", min: 0, step: 1, placeholder: "no limit" });
  const autoDraw = h("input", { type: "number", min: 1, max: 10, step: 1, placeholder: "workers per object" });
  const autoRows = h("fieldset", { "data-testid": "auto-labeling-fields" }, h("legend", {}, "Automated labeling"),
    h("label", { for: autoOn.id, class: "inline" }, autoOn, " Enable automated labeling"),
    h("p", { class: "muted" }, "Humans label a random first batch; a model trained on their labels labels the objects it is sure of " +
      "(its accuracy certified on held-out human labels), and the most informative of the rest go to humans next."),
    h("div", { class: "form-grid" },
      field("f-auto-target", "Target accuracy", autoTarget, "Machine labels must reach it (0.5 < t < 1)."),
      field("f-auto-min", "Minimum dataset size", autoMin, "Smaller jobs are refused (empty: 1,250; at least 100)."),
      field("f-auto-max", "Maximum human-labeled objects", autoMax, "Empty: no limit; what the model cannot label then fails."),
      field("f-auto-draw", "Answers per validation object", autoDraw,
        "The random draws whose labels certify the model (empty: workers per object); cleaner labels there certify sooner.")));
  const syncAuto = () => { [autoTarget, autoMin, autoMax, autoDraw].forEach((el) => { el.disabled = !autoOn.checked; }); };
  autoOn.addEventListener("change", syncAuto);
  syncAuto();
  const syncSource = () => {
    sourceRow.hidden = !CHAINED.includes(type.value);
    customRows.hidden = type.value !== "custom";
    autoRows.hidden = !AUTO_TYPES.includes(type.value);
    knownRow.hidden = !AUTO_TYPES.includes(type.value);
  };
  type.addEventListener("change", syncSource);
  const file = h("input", { type: "file", name: "manifest", accept: ".manifest,.jsonl,.json,application/json" });
  const path = h("input", { type: "text", name: "manifest_path", placeholder: "/data/input.manifest" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "create-error" });
  const form = h("form", { class: "card" },
    h("div", { class: "form-grid" },
      field("f-name", "Job name", h("input", { type: "text", name: "name", required: true, maxlength: 200 })),
      field("f-type", "Task type", type),
      field("f-team", "Team", h("select", { name: "team_id", required: true }, teams.map((t) => h("option", { value: t.team_id }, t.name)))),
      field("f-wpo", "Workers per object", num("workers_per_object", 3, { min: 1, max: 100 })),
      field("f-time", "Time limit per task (s)", num("task_time_limit_s", 300, { min: 1 })),
      field("f-price", "Price per task (USD)", num("price_per_task_usd", "0.00", { min: 0, step: "0.01" })),
      sourceRow, knownRow),
    field("f-cats", "Categories (one per line)", h("textarea", { name: "categories", rows: 4 })),
    customRows,
    autoRows,
    field("f-instr", "Instructions", h("textarea", { name: "instructions", rows: 5 }),
      "First paragraph: the short instructions. Lines “good: /url” or “bad: /url” show example images."),
    h("fieldset", {}, h("legend", {}, "Manifest: upload a file or give a path"),
      field("f-file", "Manifest file", file), field("f-path", "Or a manifest path on the server", path)),
    h("button", { type: "submit", class: "primary" }, "Create job"), error);
  syncSource();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = new FormData();
    for (const [k, v] of data.entries()) {
      if (k === "categories") continue;
      if ((k === "template" || k === "custom_consolidation") && data.get("task_type") !== "custom") continue;
      if (k === "known_answer_attribute" && !AUTO_TYPES.includes(String(data.get("task_type")))) continue;
      if (k === "manifest" && (!(v instanceof File) || !v.size)) continue;
      if (typeof v === "string" && v.trim() === "") continue;
      body.append(k, v);
    }
    String(data.get("categories") || "").split("\n").map((c) => c.trim()).filter(Boolean).forEach((c) => body.append("categories", c));
    if (autoOn.checked && AUTO_TYPES.includes(String(data.get("task_type")))) {
      body.append("auto_labeling", JSON.stringify({ enabled: true, target_accuracy: Number(autoTarget.value),
        min_dataset_size: Number(autoMin.value || 0), max_human_labeled: Number(autoMax.value || 0),
        validation_workers_per_object: Number(autoDraw.value || 0) }));
    }
    try {
      const job = await api.post("/v1/jobs", { body });
      location.hash = `#/jobs/${job.job_id}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });
  clear(pane).append(h("h1", {}, "New job"),
    teams.length ? form : h("p", {}, "Create a team first: ", h("a", { href: "#/teams" }, "Teams")));
}

// At most this many image/mask downloads at once (a job's label browser may list thousands of objects).
const FETCHES = 4;
let fetching = 0;
const waiting = [];
async function limited(task) {
  if (fetching >= FETCHES) await new Promise((resolve) => waiting.push(resolve));
  fetching += 1;
  try { return await task(); } finally { fetching -= 1; if (waiting.length) waiting.shift()(); }
}

// A mask PNG (the job's colours on a #ffffff background) as a canvas whose background is transparent.
function maskLayer(img) {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const data = g.getImageData(0, 0, c.width, c.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i] === 255 && px[i + 1] === 255 && px[i + 2] === 255) px[i + 3] = 0;
  }
  g.putImageData(data, 0, 0);
  return c;
}

// An image object's card picture: the object's image (fetched with the requester key as a blob URL), the
// consolidated mask over it at `view.opacity`, the boxes on top. Until the image arrives (or if it cannot be
// read) the boxes are drawn over a grey frame of the image's size.
function drawImageLabel(jobId, objectId, label, categories, view) {
  const size = label.imageSize || { width: 320, height: 200 };
  const boxes = label.boxes || [];
  const c = h("canvas", { width: size.width, height: size.height, role: "img", "data-testid": "label-image",
    "aria-label": label.boxes ? `${boxes.length} boxes` : label.value && label.meta["internal-color-map"] ? "image with its mask" : "image" });
  const note = h("p", { class: "muted", role: "status" });
  const state = { img: null, mask: null };
  const paint = () => {
    const g = c.getContext("2d");
    g.globalAlpha = 1;
    g.fillStyle = "#444";
    g.fillRect(0, 0, c.width, c.height);
    if (state.img) g.drawImage(state.img, 0, 0, c.width, c.height);
    if (state.mask) {
      g.globalAlpha = view.opacity;
      g.drawImage(state.mask, 0, 0, c.width, c.height);
      g.globalAlpha = 1;
    }
    g.lineWidth = Math.max(2, c.width / 200);
    g.font = `${Math.max(12, c.width / 40)}px system-ui`;
    for (const b of boxes) {
      g.strokeStyle = g.fillStyle = colorOf(Math.max(0, categories.indexOf(b.label)));
      g.strokeRect(b.left, b.top, b.width, b.height);
      g.fillText(b.label, b.left + 3, b.top + 14);
    }
  };
  paint();
  view.repaint.add(paint);
  if (objectId === null) {
    note.textContent = "The image is not shown: the object's id is unknown.";
    return h("div", {}, c, note);
  }
  const base = `/v1/jobs/${encodeURIComponent(jobId)}/objects/${objectId}`;
  const wantMask = typeof label.value === "string" && !!label.meta["internal-color-map"];
  limited(async () => {
    try {
      const { img, revoke } = await loadImage(`${base}/content`, api);
      revoke();
      if (!label.imageSize) { c.width = img.naturalWidth; c.height = img.naturalHeight; }
      state.img = img;
      c.dataset.image = "loaded";
    } catch (err) {
      note.textContent = `Image not shown: ${err.message}`;
      c.dataset.image = "unavailable";
    }
    if (wantMask) {
      try {
        const { img, revoke } = await loadImage(`${base}/mask`, api);
        state.mask = maskLayer(img);
        revoke();
        if (!state.img) { c.width = img.naturalWidth; c.height = img.naturalHeight; }
        c.dataset.mask = "loaded";
      } catch (err) {
        note.textContent = `Mask not shown: ${err.message}`;
        c.dataset.mask = "unavailable";
      }
    }
    paint();
  });
  return h("div", {}, c, note);
}

function drawLabel(jobId, objectId, item, label, categories, view) {
  if (typeof item["source-ref"] === "string") return drawImageLabel(jobId, objectId, label, categories, view);
  if (typeof item.source === "string") {
    const chars = Array.from(item.source);
    const q = h("blockquote", { class: "object-text" });
    let pos = 0;
    for (const e of [...(label.entities || [])].sort((a, b) => a.startOffset - b.startOffset)) {
      q.append(chars.slice(pos, e.startOffset).join(""), h("mark", {}, chars.slice(e.startOffset, e.endOffset).join(""), h("sup", {}, e.label)));
      pos = e.endOffset;
    }
    q.append(chars.slice(pos).join(""));
    return q;
  }
  return h("p", { class: "muted" }, "(no source)");
}

async function showJob(pane, jobId) {
  const job = await api.get(`/v1/jobs/${jobId}`);
  const c = job.counters;
  clear(pane).append(h("h1", {}, job.name),
    h("p", {}, `${job.task_type} · ${job.status} · ${fmtPct(job.progress)} done · ${c.human_labeled} human, ${c.machine_labeled} machine, ${c.failed} failed, ${c.unlabeled} remaining · ${fmtMoney(job.cost_usd)}`),
    h("p", {}, h("button", { type: "button", onclick: () => route() }, "Refresh"), " ",
      ["completed", "stopped"].includes(job.status) ? h("button", { type: "button", onclick: () => download(job) }, "Download output") : null,
      job.auto_labeling && job.auto_labeling.enabled ? [" ", h("a", { href: `#/jobs/${job.job_id}/auto-labeling` }, "Automated labeling")] : null));
  let lines;
  try {
    // Every object, in object order (a running job's unlabeled objects as their input lines alone), so a
    // line's index is its object id: images, masks and raw answers are matched by it.
    lines = await api.lines(`/v1/jobs/${jobId}/output?include_unlabeled=true`);
  } catch (err) {
    pane.append(h("p", { class: "muted", role: "status" }, `No labels to browse yet (${err.message}).`));
    return;
  }
  const [answers, workers] = await Promise.all([api.lines(`/v1/jobs/${jobId}/answers`).catch(() => []),
    api.get("/v1/workers").catch(() => ({ data: [] }))]);
  const workerName = new Map(workers.data.map((w) => [w.worker_id, w.name]));
  const byObject = new Map();
  for (const a of answers) {
    const k = Number(a.object_id);
    if (!byObject.has(k)) byObject.set(k, []);
    byObject.get(k).push(a);
  }
  const attr = job.label_attribute_name;
  // One line per object (see above); should the count differ, ids are unknown and no image is fetched.
  const complete = lines.length === c.total;
  const items = lines.map((line, i) => {
    const label = labelOf(line, attr);
    const raw = complete ? byObject.get(i) || [] : [];
    return { line, label, raw, objectId: complete ? i : null, disagree: new Set(raw.map(answerValue)).size > 1 };
  }).filter((it) => isLabeled(it.line, attr)); // objects not labeled yet are not shown
  const view = { opacity: 0.5, repaint: new Set() };
  const hasMask = items.some((it) => typeof it.label.value === "string" && it.label.meta["internal-color-map"]);
  const opacity = h("input", { id: "mask-opacity", type: "range", min: 0, max: 1, step: "0.05", value: view.opacity });
  opacity.addEventListener("input", () => { view.opacity = Number(opacity.value); view.repaint.forEach((paint) => paint()); });
  const visual = (it) => (it.visual ||= drawLabel(jobId, it.objectId, it.line, it.label, job.categories, view));
  const classes = [...new Set(items.flatMap((it) => it.label.classes))].sort();
  const cls = h("select", { id: "flt-class" }, h("option", { value: "" }, "any"), classes.map((x) => h("option", { value: x }, x)));
  const minC = h("input", { id: "flt-min", type: "number", min: 0, max: 1, step: "0.05", value: 0 });
  const maxC = h("input", { id: "flt-max", type: "number", min: 0, max: 1, step: "0.05", value: 1 });
  const who = h("select", { id: "flt-who" }, ["any", "human", "machine"].map((x) => h("option", { value: x }, x)));
  const dis = h("input", { id: "flt-dis", type: "checkbox" });
  const count = h("p", { role: "status", "data-testid": "label-count" });
  const grid = h("div", { class: "label-cards" });
  const apply = () => {
    const shown = items.filter((it) => {
      const conf = it.label.confidence ?? 0;
      return (!cls.value || it.label.classes.includes(cls.value)) && conf >= Number(minC.value) - 1e-9 &&
        conf <= Number(maxC.value) + 1e-9 && (who.value === "any" || (who.value === "human") === it.label.human) &&
        (!dis.checked || it.disagree);
    });
    count.textContent = `${shown.length} of ${items.length} objects`;
    grid.replaceChildren(...shown.map((it) => h("article", { class: "label-card", "data-testid": "label-card" },
      visual(it),
      h("p", {}, h("strong", { "data-testid": "label-class" }, it.label.failed ? `failed: ${it.label.failed}` : it.label.classes.join(", ") || "(none)"),
        " ", h("span", { class: "badge" }, `confidence ${it.label.confidence === null ? "–" : it.label.confidence.toFixed(2)}`),
        " ", h("span", { class: `badge ${it.label.human ? "human" : "machine"}` }, it.label.human ? "human" : "machine"),
        it.disagree ? h("span", { class: "badge disagree" }, " disagreement") : null),
      h("details", {}, h("summary", {}, `${it.raw.length} worker answer(s)`),
        h("pre", { class: "raw" }, it.raw.map((a) => `${workerName.get(a.workerId) || a.workerId}: ${JSON.stringify(a.answerContent)}`).join("\n"))))));
  };
  [cls, minC, maxC, who, dis].forEach((el) => el.addEventListener("input", apply));
  const pending = lines.length - items.length;
  pane.append(h("h2", {}, "Labels"),
    pending > 0 ? h("p", { class: "muted", "data-testid": "label-pending" }, `${pending} object(s) not labeled yet (not shown).`) : null,
    h("div", { class: "filters", role: "search", "aria-label": "Filter labels" },
      h("label", { for: cls.id }, "Class ", cls), h("label", { for: minC.id }, "Min confidence ", minC),
      h("label", { for: maxC.id }, "Max confidence ", maxC), h("label", { for: who.id }, "Labeled by ", who),
      h("label", { for: dis.id, class: "inline" }, dis, " Workers disagree"),
      hasMask ? h("label", { for: opacity.id }, "Mask opacity ", opacity) : null),
    count, grid);
  apply();
}

// A worker's confusion matrix (rows: consolidated class, columns: the worker's answer), folded away.
function confusionTable(w, categories) {
  if (!w.confusion.length) return "–";
  return h("details", {}, h("summary", {}, "show"),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "truth ↓ answered →"), categories.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, w.confusion.map((row, i) => h("tr", {}, h("th", { scope: "row" }, categories[i]),
        row.map((p) => h("td", { class: "num" }, fmtPct(p))))))));
}

async function showWorkers(pane) {
  const [workers, teams, jobs] = await Promise.all([api.get("/v1/workers"), api.get("/v1/teams"), api.get("/v1/jobs?page_size=200")]);
  const teamName = new Map(teams.data.map((t) => [t.team_id, t.name]));
  const jobSel = h("select", { id: "w-job" }, h("option", { value: "" }, "choose a job"), jobs.data.map((j) => h("option", { value: j.job_id }, j.name)));
  const quality = h("div", {});
  jobSel.addEventListener("change", async () => {
    if (!jobSel.value) { clear(quality); return; }
    let q, answers;
    try {
      [q, answers] = await Promise.all([api.get(`/v1/jobs/${jobSel.value}/workers`), api.lines(`/v1/jobs/${jobSel.value}/answers`).catch(() => [])]);
    } catch (err) { // e.g. a job whose stored answers cannot be scored (409)
      quality.replaceChildren(h("p", { class: "error" }, err.message));
      return;
    }
    const names = new Map(workers.data.map((w) => [w.worker_id, w.name]));
    const time = new Map();
    for (const a of answers) {
      const t = time.get(a.workerId) || [0, 0];
      time.set(a.workerId, [t[0] + (a.timeSpentInSeconds || 0), t[1] + 1]);
    }
    // Classification and verification have a confusion matrix per worker; boxes, spans, masks, multi-label
    // and custom jobs have none (their consolidator's reliability estimate is the accuracy).
    const hasConfusion = q.categories.length > 0 && q.data.some((w) => w.confusion.length > 0);
    // Jobs with known-answer objects: each worker's observed accuracy on them.
    const known = q.known_objects > 0;
    const heads = ["Worker", "Answers", "Time per task", "Estimated accuracy", "Agreement", ...(known ? ["On known answers"] : []),
      ...(hasConfusion ? ["Confusion matrix"] : [])];
    const measures = h("dl", { class: "muted", "data-testid": "quality-measures" },
      q.accuracy_measure ? [h("dt", {}, "Estimated accuracy"), h("dd", {}, q.accuracy_measure)] : null,
      q.agreement_measure ? [h("dt", {}, "Agreement"), h("dd", {}, q.agreement_measure)] : null,
      known ? [h("dt", {}, "On known answers"), h("dd", {}, `share of the worker's answers to the job's ${q.known_objects} known-answer objects that were the known class (observed)`)] : null);
    quality.replaceChildren(...[
      q.data.length ? null : h("p", { class: "muted" }, "No answers have reached consolidation for this job yet."),
      h("table", { class: "grid", "data-testid": "worker-quality" },
        h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, q.data.map((w) => {
          const t = time.get(w.worker_id);
          // The automated-labeling model counts as one more annotator (its reliability learned, not a person).
          const who = w.machine ? h("em", { "data-testid": "model-annotator" }, "Automated-labeling model") : names.get(w.worker_id) || w.worker_id;
          return h("tr", {}, h("td", {}, who), h("td", { class: "num" }, w.answers),
            h("td", { class: "num" }, t ? `${(t[0] / t[1]).toFixed(1)} s` : "–"), h("td", { class: "num" }, fmtPct(w.accuracy)),
            h("td", { class: "num" }, fmtPct(w.agreement)),
            known ? h("td", { class: "num" }, w.known_answers ? `${fmtPct(w.known_accuracy)} of ${w.known_answers}` : "–") : null,
            hasConfusion ? h("td", {}, confusionTable(w, q.categories)) : null);
        }))),
      measures].filter(Boolean)); // replaceChildren would write a null as the text "null"
  });
  clear(pane).append(h("h1", {}, "Workers"),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, ["Worker", "Teams", "Answers", "Since"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, workers.data.map((w) => h("tr", {}, h("td", {}, w.name), h("td", {}, w.team_ids.map((t) => teamName.get(t) || t).join(", ")),
        h("td", { class: "num" }, w.answers), h("td", {}, (w.created_at || "").slice(0, 10)))))),
    h("h2", {}, "Quality in a job"), h("label", { for: jobSel.id }, "Job"), jobSel, quality);
}

async function showTeams(pane) {
  const teams = (await api.get("/v1/teams")).data;
  const teamName = h("input", { type: "text", id: "team-name", required: true, maxlength: 200 });
  const teamForm = h("form", { class: "card" }, h("h2", {}, "Create a team"), h("label", { for: "team-name" }, "Team name"), teamName,
    h("button", { type: "submit", class: "primary" }, "Create team"));
  teamForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    await api.post("/v1/teams", { json: { name: teamName.value.trim() } });
    await showTeams(pane);
  });
  const workerName = h("input", { type: "text", id: "worker-name", required: true, maxlength: 200 });
  const boxes = teams.map((t, i) => h("input", { type: "checkbox", value: t.team_id, id: `wt-${i}` }));
  const result = h("div", { role: "status" });
  const workerForm = h("form", { class: "card" }, h("h2", {}, "Add a worker"), h("label", { for: "worker-name" }, "Worker name"), workerName,
    h("fieldset", {}, h("legend", {}, "Teams"), teams.map((t, i) => h("label", { for: boxes[i].id, class: "inline" }, boxes[i], ` ${t.name}`))),
    h("button", { type: "submit", class: "primary" }, "Add worker"), result);
  workerForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await api.post("/v1/workers", { json: { name: workerName.value.trim(), team_ids: boxes.filter((b) => b.checked).map((b) => b.value) } });
      const token = h("p", { class: "token-once", "data-testid": "worker-token" }, created.token);
      result.replaceChildren(h("p", {}, `Worker “${created.worker.name}” added. Give them this token now: it is shown only once.`), token,
        h("button", { type: "button", onclick: () => navigator.clipboard && navigator.clipboard.writeText(created.token) }, "Copy token"));
      workerName.value = "";
    } catch (err) {
      result.replaceChildren(h("p", { class: "error" }, err.message));
    }
  });
  clear(pane).append(h("h1", {}, "Teams"),
    h("ul", { "data-testid": "team-list" }, teams.map((t) => h("li", {}, t.name, " ", h("span", { class: "muted" }, t.team_id)))),
    teamForm, teams.length ? workerForm : null);
}

window.addEventListener("hashchange", () => route());
route();
