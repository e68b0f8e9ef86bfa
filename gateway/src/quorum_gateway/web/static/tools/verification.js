// Label verification: the previous label (class, boxes, spans or mask) shown read-only, verdict choices
// (the job's categories, keys 1..9) and an optional comment. Answers {label: verdict, payload: {comment}}.
import { h } from "../common.js";
import { mountBoxes } from "./boxes.js";
import { mountSegmentation } from "./segmentation.js";
import { previousBoxes, previousClass, previousEntities, previousMaskUrl } from "./previous.js";

function classesOf(previous, fallback) {
  const map = (previous && previous.metadata && previous.metadata["class-map"]) || null;
  if (!map) return fallback;
  const out = [];
  for (const [k, v] of Object.entries(map)) out[Number(k)] = v;
  return Array.from(out, (v, i) => v ?? String(i));
}

export function mountVerification(container, task, ctx) {
  const previous = task.previous || {};
  const base = previous.task_type || "";
  const shown = h("section", { class: "previous", "aria-label": "The label to verify" }, h("h3", {}, "Label to verify"));
  container.append(shown);
  const children = [];
  if (base === "bounding-box") {
    const cats = classesOf(previous, []);
    const boxes = previousBoxes(previous, cats);
    const labels = [...new Set([...cats, ...boxes.map((b) => b.label)])];
    children.push(mountBoxes(shown, { ...task, categories: labels }, ctx, { readonly: true, initial: boxes }));
  } else if (base === "semantic-segmentation") {
    // The mask's classes and colours come from its own internal-color-map (index 0 is the background).
    const cmap = (previous.metadata && previous.metadata["internal-color-map"]) || {};
    const entries = Object.entries(cmap).filter(([k]) => k !== "0").sort((a, b) => Number(a[0]) - Number(b[0]));
    const maskTask = { ...task, categories: entries.map(([, v]) => v["class-name"]), color_map: entries.map(([, v]) => v["hex-color"]) };
    children.push(mountSegmentation(shown, maskTask, ctx, { readonly: true, initialMaskUrl: previousMaskUrl(previous) }));
  } else if (base === "named-entity-recognition") {
    const text = task.source || "";
    const chars = Array.from(text);
    const p = h("p", { class: "ner-text" });
    let pos = 0;
    for (const e of previousEntities(previous).sort((a, b) => a.start - b.start)) {
      p.append(chars.slice(pos, e.start).join(""), h("mark", {}, chars.slice(e.start, e.end).join(""), h("sup", {}, e.label)));
      pos = e.end;
    }
    p.append(chars.slice(pos).join(""));
    shown.append(p);
  } else {
    if (task.image_url) {
      const media = h("div", { class: "media" });
      shown.append(media);
      import("../common.js").then(({ loadImage }) => loadImage(task.image_url, ctx.api)).then(({ img }) => {
        img.alt = "The labelled object";
        img.className = "object-image";
        media.append(img);
      }).catch(() => {});
    } else if (task.source) {
      shown.append(h("blockquote", { class: "object-text" }, task.source));
    }
    shown.append(h("p", { class: "previous-label", "data-testid": "previous-label" }, "Label: ", h("strong", {}, previousClass(previous, task.categories))));
  }
  const name = "verdict-" + task.task_id;
  const inputs = task.categories.map((c, i) => h("input", { type: "radio", name, value: c, id: `${name}-${i}` }));
  const comment = h("textarea", { id: `comment-${task.task_id}`, rows: 2, maxlength: 1000 });
  container.append(
    h("fieldset", { class: "choices" }, h("legend", {}, "Your verdict (keys 1–9)"),
      inputs.map((inp, i) => h("label", { for: inp.id, class: "choice" }, inp, h("kbd", {}, i < 9 ? String(i + 1) : ""), " ", task.categories[i]))),
    h("label", { for: comment.id }, "Comment (optional)"), comment);

  return {
    key(e) {
      if (document.activeElement === comment) return false;
      const n = Number(e.key);
      if (!Number.isInteger(n) || n < 1 || n > Math.min(9, inputs.length)) return false;
      inputs[n - 1].checked = true;
      inputs[n - 1].focus();
      return true;
    },
    answer() {
      const chosen = inputs.find((i) => i.checked);
      if (!chosen) throw new Error("Choose a verdict first.");
      const text = comment.value.trim();
      return { label: chosen.value, payload: text ? { comment: text } : {} };
    },
    previousTool: () => children[0] || null, // the read-only view of the previous label
    ready: Promise.all(children.map((c) => c.ready)),
    destroy() { children.forEach((c) => c.destroy()); },
  };
}
