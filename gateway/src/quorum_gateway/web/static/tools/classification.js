// Classification, single-label (radio buttons) or multi-label (checkboxes). Keys 1..9 pick/toggle a class;
// the portal submits on Enter. Single-label answers {label}, multi-label {payload: {labels: [...]}}.
import { h, loadImage } from "../common.js";

export function mountClassification(container, task, ctx) {
  const multi = task.task_type.endsWith("-multilabel");
  const name = "cls-" + task.task_id;
  const inputs = [];
  const revokers = [];
  const media = h("div", { class: "media" });
  if (task.image_url) {
    media.append(h("p", { class: "muted" }, "Loading image…"));
    loadImage(task.image_url, ctx.api).then(({ img, revoke }) => {
      revokers.push(revoke);
      img.alt = "The object to classify";
      img.className = "object-image";
      media.replaceChildren(img);
    }).catch((e) => media.replaceChildren(h("p", { class: "error" }, e.message)));
  } else {
    media.append(h("blockquote", { class: "object-text", "data-testid": "object-text" }, task.source || ""));
  }
  const fieldset = h("fieldset", { class: "choices" },
    h("legend", {}, multi ? "Choose every class that applies (keys 1–9)" : "Choose one class (keys 1–9)"));
  task.categories.forEach((cat, i) => {
    const input = h("input", { type: multi ? "checkbox" : "radio", name, value: cat, id: `${name}-${i}` });
    inputs.push(input);
    fieldset.append(h("label", { for: input.id, class: "choice" }, input,
      h("kbd", {}, i < 9 ? String(i + 1) : ""), " ", cat));
  });
  container.append(media, fieldset);

  return {
    key(e) {
      const n = Number(e.key);
      if (!Number.isInteger(n) || n < 1 || n > 9 || n > inputs.length) return false;
      const input = inputs[n - 1];
      input.checked = multi ? !input.checked : true;
      input.focus();
      return true;
    },
    answer() {
      if (multi) return { payload: { labels: inputs.filter((i) => i.checked).map((i) => i.value) } };
      const chosen = inputs.find((i) => i.checked);
      if (!chosen) throw new Error("Choose a class first (keys 1–9).");
      return { label: chosen.value };
    },
    destroy() { revokers.forEach((r) => r()); },
  };
}
