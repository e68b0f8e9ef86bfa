// Custom template: the requester's HTML, with {{ task.input.* }} variables filled in (HTML-escaped), rendered
// in an iframe sandboxed *without* allow-same-origin: it runs in an opaque origin, so it cannot read the
// portal's storage or token, and its CSP forbids any network request. It returns its answer with
//   parent.postMessage({type: "quorum-answer", answer: {...}}, "*")
// or, simpler, by submitting a <form>: its fields become the answer (see docs/portal.md).
import { h } from "../common.js";

export function renderTemplate(template, input) {
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  return template.replace(/\{\{\s*task\.input\.([A-Za-z0-9_\-.]+)\s*\}\}/g, (_, path) => {
    let v = input;
    for (const part of path.split(".")) v = v == null ? undefined : v[part];
    if (v === undefined || v === null) return "";
    return esc(typeof v === "object" ? JSON.stringify(v) : v);
  });
}

export function taskInput(task) {
  return task.input || { source: task.source ?? undefined, "source-ref": task.source_ref ?? undefined, image_url: task.image_url ?? undefined };
}

export function mountCustom(container, task, ctx) {
  const frame = h("iframe", { class: "template-frame", title: "Task form", sandbox: "allow-scripts allow-forms",
    src: "/portal/template-frame", "data-testid": "template-frame" });
  const status = h("p", { class: "muted", role: "status" }, "Fill in the form and submit it.");
  container.append(frame, status);
  let answer = null;
  const html = renderTemplate(task.template || "<p>This job has no template.</p>", taskInput(task));
  function onMessage(e) {
    if (e.source !== frame.contentWindow) return; // only our own frame, whatever its (opaque) origin
    const msg = e.data || {};
    if (msg.type === "quorum-ready") frame.contentWindow.postMessage({ type: "quorum-render", html }, "*");
    if (msg.type === "quorum-answer" && msg.answer && typeof msg.answer === "object") {
      answer = msg.answer;
      status.textContent = "Answer received.";
      if (ctx.onSubmit) ctx.onSubmit();
    }
  }
  window.addEventListener("message", onMessage);
  return {
    answer() {
      if (!answer) throw new Error("Submit the form in the task first.");
      const { label, ...rest } = answer;
      return typeof label === "string" && label ? { label, payload: Object.keys(rest).length ? rest : undefined } : { payload: answer };
    },
    key() { return false; },
    destroy() { window.removeEventListener("message", onMessage); },
  };
}
