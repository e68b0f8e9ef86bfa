// Tool preview: window.quorumPreview.mount(task) shows a task's tool as the portal would, and
// window.quorumPreview.answer() returns the exact body the portal would submit. No request is made.
import { h } from "./common.js";
import { mountTool } from "./tools/index.js";

let tool = null;
const box = document.getElementById("tool");
const error = document.getElementById("preview-error");

function onKey(e) {
  if (tool && tool.key(e)) e.preventDefault();
}
document.addEventListener("keydown", onKey);

window.quorumPreview = {
  async mount(task) {
    if (tool) tool.destroy();
    box.replaceChildren(h("h1", {}, task.job_name || "Preview"));
    error.textContent = "";
    tool = mountTool(box, { task_id: "preview", categories: [], ...task }, { api: null });
    if (tool.ready) await tool.ready;
    return true;
  },
  answer() {
    try {
      return { ok: true, body: tool.answer() };
    } catch (e) {
      return { ok: false, error: e.message };
    }
  },
  tool: () => tool,
};
document.body.dataset.ready = "true";
