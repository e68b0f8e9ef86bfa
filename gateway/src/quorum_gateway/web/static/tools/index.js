// Picks the tool for a task's type. Every tool returns {answer(), key(e), destroy()}: answer() gives the
// body of POST /v1/worker/tasks/{id}/answer (or throws an Error saying what is missing), key(e) handles a
// shortcut and says whether it did.
import { mountBoxes } from "./boxes.js";
import { mountClassification } from "./classification.js";
import { mountCustom } from "./custom.js";
import { mountNer } from "./ner.js";
import { previousBoxes, previousEntities, previousMaskUrl } from "./previous.js";
import { mountSegmentation } from "./segmentation.js";
import { mountVerification } from "./verification.js";

export const TASK_TYPES = [
  "image-classification", "text-classification", "image-classification-multilabel",
  "text-classification-multilabel", "bounding-box", "semantic-segmentation", "named-entity-recognition",
  "label-verification", "adjustment", "custom",
];

function mountBase(type, container, task, ctx, opts) {
  switch (type) {
    case "image-classification":
    case "text-classification":
    case "image-classification-multilabel":
    case "text-classification-multilabel":
      return mountClassification(container, { ...task, task_type: type }, ctx);
    case "bounding-box": return mountBoxes(container, task, ctx, opts);
    case "semantic-segmentation": return mountSegmentation(container, task, ctx, opts);
    case "named-entity-recognition": return mountNer(container, task, ctx, opts);
    case "label-verification": return mountVerification(container, task, ctx);
    case "custom": return mountCustom(container, task, ctx);
    default: throw new Error(`This portal has no tool for task type “${type}”.`);
  }
}

// Adjustment: the base tool, pre-filled with the previous label; `adjusted` says whether the answer differs
// from what was pre-filled (compared on the submitted payload, so an edit that is undone counts as none).
function mountAdjustment(container, task, ctx) {
  const previous = task.previous || {};
  const base = previous.task_type;
  const opts = {};
  if (base === "bounding-box") opts.initial = previousBoxes(previous, task.categories);
  else if (base === "named-entity-recognition") opts.initial = previousEntities(previous);
  else if (base === "semantic-segmentation") opts.initialMaskUrl = previousMaskUrl(previous);
  else throw new Error(`An adjustment job cannot start from a “${base}” label.`);
  const tool = mountBase(base, container, task, ctx, opts);
  let original = null;
  const snapshot = () => { try { original = JSON.stringify(tool.answer().payload); } catch { original = null; } };
  if (tool.ready) tool.ready.then(snapshot); else snapshot();
  // Inherit from the base tool (its live getters, e.g. the view) and only wrap answer().
  const wrapper = Object.create(tool);
  wrapper.answer = () => {
    const a = tool.answer();
    return { ...a, payload: { ...a.payload, adjusted: JSON.stringify(a.payload) !== original } };
  };
  return wrapper;
}

export function mountTool(container, task, ctx = {}) {
  if (task.task_type === "adjustment") return mountAdjustment(container, task, ctx);
  return mountBase(task.task_type, container, task, ctx, {});
}
