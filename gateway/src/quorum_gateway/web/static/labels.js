// Reading a Ground Truth output line for the label browser: the label, its class name(s), confidence,
// whether a human labeled it, and how to draw it (boxes, spans, mask).

export function labelOf(line, attr) {
  const key = attr in line ? attr : `${attr}-ref` in line ? `${attr}-ref` : attr;
  const meta = line[`${key}-metadata`] || {};
  const value = line[key];
  const failed = meta["failure-reason"] || null;
  let classes = [];
  if (meta["class-name"] !== undefined) classes = [meta["class-name"]];
  else if (Array.isArray(value)) classes = value.map((i) => (meta["class-map"] || {})[String(i)] ?? String(i));
  else if (value && Array.isArray(value.annotations)) {
    classes = value.annotations.map((a) => (meta["class-map"] || {})[String(a.class_id)] ?? String(a.class_id));
  } else if (value && value.annotations && Array.isArray(value.annotations.entities)) {
    classes = value.annotations.entities.map((e) => e.label);
  } else if (meta["internal-color-map"]) {
    classes = Object.values(meta["internal-color-map"]).map((c) => c["class-name"]).filter((c) => c !== "BACKGROUND");
  }
  let confidence = null;
  if (typeof meta.confidence === "number") confidence = meta.confidence;
  else if (Array.isArray(meta.objects) && meta.objects.length) confidence = mean(meta.objects.map((o) => o.confidence));
  else if (Array.isArray(meta.entities) && meta.entities.length) confidence = mean(meta.entities.map((o) => o.confidence));
  else if (meta["confidence-map"]) confidence = mean(Object.values(meta["confidence-map"]));
  else if (meta["internal-color-map"]) confidence = mean(Object.values(meta["internal-color-map"]).map((c) => c.confidence));
  return {
    value, meta, failed, classes: [...new Set(classes)], confidence,
    human: meta["human-annotated"] === "yes",
    boxes: value && Array.isArray(value.annotations) ? value.annotations.map((a) => ({ ...a,
      label: (meta["class-map"] || {})[String(a.class_id)] ?? String(a.class_id) })) : null,
    imageSize: value && Array.isArray(value.image_size) ? value.image_size[0] : null,
    entities: value && value.annotations && Array.isArray(value.annotations.entities) ? value.annotations.entities : null,
  };
}

// Whether an output line carries the job's label, or its failure: the console asks for every object of a
// running job (`?include_unlabeled=true`), whose unlabeled objects are their input lines alone.
export function isLabeled(line, attr) {
  return `${attr}-metadata` in line || `${attr}-ref-metadata` in line;
}

function mean(xs) {
  const v = xs.filter((x) => typeof x === "number");
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

// A worker answer's comparable value: its label, labels, or its payload as JSON.
export function answerValue(a) {
  const c = a.answerContent || {};
  if (typeof c.label === "string") return c.label;
  if (Array.isArray(c.labels)) return [...c.labels].sort().join(",");
  return JSON.stringify(c);
}
