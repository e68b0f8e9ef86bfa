// The worker portal: sign in with a worker token, see your teams' jobs, and label in a task loop that
// fetches the next task while the current one is open.
import { Api, ApiError, clear, h } from "./common.js";
import { mountTool } from "./tools/index.js";

const api = new Api("quorum.workerToken");
const main = document.getElementById("main");
const nav = document.getElementById("nav");
let session = { done: 0 };
let loop = null;

function signOutButton(me) {
  clear(nav).append(h("span", { "data-testid": "worker-name" }, me.name), " ",
    h("button", { type: "button", onclick: signOut }, "Sign out"));
}

async function signOut() {
  if (loop) await loop.stop();
  api.setToken("");
  clear(nav);
  showSignIn();
}

function showSignIn(message) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-help" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "token" }, "Worker token"), input,
    h("p", { id: "token-help", class: "muted" }, "The token your requester gave you. It stays in this tab only."),
    h("button", { type: "submit", class: "primary" }, "Sign in"), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    api.setToken(input.value.trim());
    try {
      await showHome();
    } catch (err) {
      api.setToken("");
      error.textContent = err.status === 401 ? "That token is not valid." : err.message;
    }
  });
  clear(main).append(form);
  input.focus();
}

async function showHome(notice) {
  const [me, jobs] = await Promise.all([api.get("/v1/worker/me"), api.get("/v1/worker/jobs")]);
  signOutButton(me);
  const waiting = jobs.data.reduce((n, j) => n + j.waiting, 0);
  const rows = jobs.data.map((j) => h("tr", {},
    h("td", {}, j.name), h("td", {}, j.task_type), h("td", { class: "num" }, j.waiting),
    h("td", { class: "num" }, "$" + j.price_per_task_usd.toFixed(2)),
    h("td", {}, h("button", { type: "button", class: "primary", "data-job": j.job_id,
      onclick: () => startLoop(j.job_id) }, `Start “${j.name}”`))));
  clear(main).append(
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("h1", {}, `Hello, ${me.name}`),
    h("section", { class: "stats", "aria-label": "Your work" },
      h("div", { class: "stat" }, h("span", { class: "big", "data-testid": "done-total" }, me.answers), "answers given"),
      h("div", { class: "stat" }, h("span", { class: "big" }, session.done), "this session"),
      h("div", { class: "stat" }, h("span", { class: "big", "data-testid": "waiting" }, waiting), "objects waiting")),
    h("h2", {}, "Your jobs"),
    jobs.data.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Job", "Type", "Waiting", "Pay", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)) : h("p", { class: "muted" }, "No job is open for your teams right now."),
    jobs.data.length ? h("button", { type: "button", onclick: () => startLoop(null) }, "Start any job") : null);
  main.focus();
}

function instructionsPanel(text) {
  // Short = the first paragraph; full = the rest. Lines "good: URL" / "bad: URL" become example images.
  const paras = (text || "No instructions.").split(/\n\s*\n/);
  const render = (block) => block.split("\n").map((line) => {
    const m = line.match(/^\s*(good|bad)\s*:\s*(\S+)(.*)$/i);
    if (m && /^(\/|data:)/.test(m[2])) {
      return h("figure", { class: `example ${m[1].toLowerCase()}` }, h("img", { src: m[2], alt: `${m[1]} example` }),
        h("figcaption", {}, `${m[1][0].toUpperCase()}${m[1].slice(1).toLowerCase()} example${m[3] ? ": " + m[3].trim() : ""}`));
    }
    return h("p", {}, line);
  });
  return h("aside", { class: "instructions", "aria-label": "Instructions" },
    h("h2", {}, "Instructions"), h("div", { "data-testid": "short-instructions" }, render(paras[0])),
    paras.length > 1 ? h("details", {}, h("summary", {}, "Full instructions and examples"), paras.slice(1).map((p) => h("div", {}, render(p)))) : null);
}

// The task loop. One task is shown; the next is leased in the background as soon as this one is up, so
// submitting never waits for a fetch. Decline gives a task back for other workers (the service never
// offers it to this worker again); Skip keeps its lease and shows it again once nothing new is left.
class TaskLoop {
  constructor(jobId) {
    this.jobId = jobId;
    this.current = null;
    this.tool = null;
    this.next = null; // Promise<task|null>
    this.skippedTasks = []; // skipped: still leased, shown again when nothing new is left
    this.timer = 0;
    this.stopped = false;
    this.busy = false;
    this.onKey = (e) => this.key(e);
    document.addEventListener("keydown", this.onKey);
  }
  fetchTask() {
    const q = this.jobId ? `?job_id=${encodeURIComponent(this.jobId)}` : "";
    return api.post("/v1/worker/tasks/next" + q);
  }
  prefetch() {
    this.next = this.fetchTask().catch(() => null);
  }
  async advance() {
    this.teardown();
    let task = this.next ? await this.next : null;
    this.next = null;
    // A prefetched lease may have run out while the worker was busy: give it back and fetch afresh.
    if (task && Date.parse(task.expires_at) - Date.now() < 5000) {
      await api.post(`/v1/worker/tasks/${task.task_id}/decline`).catch(() => {});
      task = null;
    }
    if (!task) task = await this.fetchTask();
    // Nothing new: come back to the tasks skipped earlier whose lease still runs.
    while (!task && this.skippedTasks.length) {
      const held = this.skippedTasks.shift();
      if (Date.parse(held.expires_at) - Date.now() > 5000) task = held;
    }
    if (this.stopped) return;
    if (!task) { await this.stop(); await showHome("No more tasks for you right now. Thank you!"); return; }
    this.show(task);
    this.prefetch();
  }
  show(task) {
    this.current = task;
    const toolBox = h("div", { class: "tool", "data-task-type": task.task_type });
    this.countdown = h("span", { class: "countdown", "data-testid": "countdown", role: "timer", "aria-live": "off" });
    this.message = h("p", { class: "error", role: "alert", "data-testid": "task-message" });
    this.submitBtn = h("button", { type: "button", class: "primary", onclick: () => this.submit() }, "Submit (Enter)");
    const layout = h("div", { class: "task-layout" },
      h("section", { class: "task", "aria-labelledby": "task-title" },
        h("div", { class: "task-head" }, h("h1", { id: "task-title" }, task.job_name),
          h("span", { class: "muted" }, ` object ${task.object_id} · ${task.task_type} · `), this.countdown),
        toolBox, this.message,
        h("div", { class: "actions" }, this.submitBtn,
          h("button", { type: "button", onclick: () => this.skip() }, "Skip"),
          h("button", { type: "button", onclick: () => this.decline() }, "Decline"),
          h("button", { type: "button", onclick: async () => { await this.stop(); await showHome(); } }, "Stop labeling"))),
      instructionsPanel(task.instructions));
    clear(main).append(layout);
    try {
      this.tool = mountTool(toolBox, task, { api, onSubmit: () => this.submit() });
    } catch (err) {
      this.message.textContent = err.message;
    }
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
    const first = toolBox.querySelector("input, canvas, [tabindex='0'], button");
    if (first) first.focus();
  }
  tick() {
    const left = Math.max(0, Math.round((Date.parse(this.current.expires_at) - Date.now()) / 1000));
    this.countdown.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} left`;
    this.countdown.classList.toggle("urgent", left <= 30);
    if (left <= 0) this.expired();
  }
  expired() {
    clearInterval(this.timer);
    this.isExpired = true;
    this.submitBtn.disabled = true;
    this.message.textContent = "Time is up for this task: it has gone back to the pool and an answer can no longer be accepted. ";
    this.message.append(h("button", { type: "button", class: "primary", onclick: () => this.advance() }, "Next task"));
  }
  teardown() {
    clearInterval(this.timer);
    this.isExpired = false;
    if (this.tool) this.tool.destroy();
    this.tool = null;
  }
  async submit() {
    if (this.busy || !this.current || this.isExpired || !this.tool) return;
    let body;
    try {
      body = this.tool.answer();
    } catch (err) {
      this.message.textContent = err.message;
      return;
    }
    this.busy = true;
    try {
      await api.post(`/v1/worker/tasks/${this.current.task_id}/answer`, { json: body });
      session.done += 1;
      await this.advance();
    } catch (err) {
      if (err instanceof ApiError && err.code === "lease_expired") this.expired();
      else this.message.textContent = `Not sent: ${err.message}`;
    } finally {
      this.busy = false;
    }
  }
  async decline() {
    if (this.busy || !this.current) return;
    this.busy = true;
    try {
      await api.post(`/v1/worker/tasks/${this.current.task_id}/decline`).catch(() => {});
      await this.advance();
    } finally { this.busy = false; }
  }
  async skip() {
    if (this.busy || !this.current) return;
    this.busy = true;
    try {
      this.skippedTasks.push(this.current);
      await this.advance();
    } finally { this.busy = false; }
  }
  key(e) {
    if (!this.current || e.defaultPrevented) return;
    const t = e.target;
    const typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && !["radio", "checkbox", "range"].includes(t.type)));
    // Enter submits, except on a control whose own Enter action is meant (a button, a link, a summary).
    if (e.key === "Enter" && !typing && !(t && ["BUTTON", "A", "SUMMARY"].includes(t.tagName)) && !e.shiftKey) {
      if (this.tool && this.tool.key(e)) { e.preventDefault(); return; }
      e.preventDefault();
      this.submit();
      return;
    }
    if (!typing && this.tool && this.tool.key(e)) e.preventDefault();
  }
  async stop() {
    this.stopped = true;
    this.teardown();
    document.removeEventListener("keydown", this.onKey);
    const pending = this.next;
    this.next = null;
    const current = this.current;
    this.current = null;
    const tasks = [current, pending ? await pending : null, ...this.skippedTasks].filter(Boolean);
    this.skippedTasks = [];
    await Promise.all(tasks.map((t) => api.post(`/v1/worker/tasks/${t.task_id}/decline`).catch(() => {})));
    loop = null;
  }
}

async function startLoop(jobId) {
  if (loop) await loop.stop();
  loop = new TaskLoop(jobId);
  await loop.advance();
}

if (api.token) {
  showHome().catch(() => { api.setToken(""); showSignIn("Please sign in again."); });
} else {
  showSignIn();
}
