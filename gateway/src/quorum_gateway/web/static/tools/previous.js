// The previous label of a verification/adjustment task (task.previous), converted from its Ground Truth
// shape to the shapes the tools edit: boxes [{label,left,top,width,height}], entities [{label,start,end}],
// a mask URL, or a class name.

function className(meta, classId, categories) {
  const map = (meta && meta["class-map"]) || {};
  return map[String(classId)] ?? categories[classId] ?? String(classId);
}

export function previousBoxes(previous, categories) {
  const label = previous && previous.label;
  const anns = (label && label.annotations) || [];
  return anns.map((a) => ({ label: className(previous.metadata, a.class_id, categories),
    left: a.left, top: a.top, width: a.width, height: a.height }));
}

export function previousEntities(previous) {
  const anns = previous && previous.label && previous.label.annotations;
  return ((anns && anns.entities) || []).map((e) => ({ label: e.label, start: e.startOffset, end: e.endOffset }));
}

// A mask the portal can load: the gateway may give it as `mask_url` in the metadata or as the label itself
// when that is a gateway path or data URL (never a storage URI the worker could not read).
export function previousMaskUrl(previous) {
  if (!previous) return null;
  const meta = previous.metadata || {};
  const candidates = [previous.mask_url, meta.mask_url, previous.label];
  return candidates.find((u) => typeof u === "string" && /^(\/|data:|blob:)/.test(u)) || null;
}

export function previousClass(previous, categories) {
  if (!previous) return "";
  const meta = previous.metadata || {};
  if (meta["class-name"]) return meta["class-name"];
  if (Array.isArray(previous.label)) return previous.label.map((i) => className(meta, i, categories)).join(", ");
  if (typeof previous.label === "number") return className(meta, previous.label, categories);
  return typeof previous.label === "string" ? previous.label : JSON.stringify(previous.label);
}
