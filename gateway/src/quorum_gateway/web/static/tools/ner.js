// Named entities: select text with the mouse (or the keyboard) and press a class key (1..9) or "Add span";
// click a span (or its list entry) to select it and Delete/"Remove" it. Overlapping spans are rejected.
// Offsets are Unicode code points into the task's `source` (as Ground Truth counts), end exclusive.
import { colorOf, h } from "../common.js";
import { History, isRedo, isUndo } from "./history.js";
import { setSwatches } from "./boxes.js";

const clone = (s) => JSON.parse(JSON.stringify(s));

export function mountNer(container, task, ctx, opts = {}) {
  const text = task.source || "";
  const chars = Array.from(text); // code points
  const cats = task.categories;
  let entities = clone(opts.initial || []);
  let current = 0;
  let selectedSpan = -1;
  const history = new History(clone);

  const textBox = h("div", { class: "ner-text", tabindex: 0, "data-testid": "ner-text",
    "aria-label": "Text: select words, then press a class key (1–9) or Add span" });
  const classButtons = cats.map((c, i) => h("button", { type: "button", class: "class-btn",
    "aria-pressed": String(i === 0), onclick: () => { current = i; syncClasses(); addSelection(); } },
  h("span", { class: "swatch", "data-color": colorOf(i) }), `${i < 9 ? i + 1 + " " : ""}${c}`));
  const message = h("p", { class: "muted", role: "status", "data-testid": "ner-status" });
  const list = h("ol", { class: "span-list", "aria-label": "Spans" });
  const btn = (label, fn, title) => h("button", { type: "button", onclick: fn, title: title || label }, label);
  container.append(
    h("div", { class: "toolbar", role: "toolbar", "aria-label": "Entity tools" },
      h("div", { class: "classes", role: "group", "aria-label": "Class" }, classButtons),
      btn("Add span", () => addSelection(), "Label the selected text with the current class"),
      btn("Remove", () => removeSpan(selectedSpan), "Remove the selected span (Delete)"),
      btn("Undo", () => restore(history.undo(entities)), "Undo (Ctrl+Z)"),
      btn("Redo", () => restore(history.redo(entities)), "Redo (Ctrl+Y)")),
    textBox, message, list);
  setSwatches(container);

  function syncClasses() { classButtons.forEach((b, j) => b.setAttribute("aria-pressed", String(current === j))); }
  function say(msg, error = false) { message.textContent = msg; message.className = error ? "error" : "muted"; }

  function render() {
    const sorted = entities.map((e, i) => ({ ...e, i })).sort((a, b) => a.start - b.start);
    const parts = [];
    let pos = 0;
    for (const e of sorted) {
      if (e.start > pos) parts.push(h("span", { dataset: { start: pos } }, chars.slice(pos, e.start).join("")));
      const mark = h("mark", { dataset: { start: e.start, span: e.i }, class: e.i === selectedSpan ? "selected" : "",
        title: e.label, onclick: () => { selectedSpan = e.i; render(); } }, chars.slice(e.start, e.end).join(""),
      h("sup", { "aria-hidden": "true" }, e.label));
      mark.style.backgroundColor = colorOf(cats.indexOf(e.label)) + "55";
      parts.push(mark);
      pos = e.end;
    }
    if (pos < chars.length) parts.push(h("span", { dataset: { start: pos } }, chars.slice(pos).join("")));
    textBox.replaceChildren(...parts);
    list.replaceChildren(...sorted.map((e) => h("li", {},
      h("button", { type: "button", "aria-pressed": String(e.i === selectedSpan),
        onclick: () => { selectedSpan = e.i; render(); } }, `${e.label}: “${chars.slice(e.start, e.end).join("")}” [${e.start}, ${e.end})`))));
  }

  // A DOM point (text node + UTF-16 offset) -> code point offset in the source.
  function offsetOf(node, offset) {
    let el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (el && el.tagName === "SUP") return null;
    while (el && el !== textBox && el.dataset.start === undefined) el = el.parentElement;
    if (!el || el === textBox) return null;
    const segText = node.nodeType === Node.TEXT_NODE ? node.textContent : "";
    return Number(el.dataset.start) + Array.from(segText.slice(0, offset)).length;
  }
  function selectionSpan() {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || !textBox.contains(sel.anchorNode) || !textBox.contains(sel.focusNode)) return null;
    let a = offsetOf(sel.anchorNode, sel.anchorOffset);
    let b = offsetOf(sel.focusNode, sel.focusOffset);
    if (a === null || b === null) return null;
    if (a > b) [a, b] = [b, a];
    // Trim surrounding white space, as a double-click selection often includes it.
    while (a < b && /\s/u.test(chars[a])) a++;
    while (b > a && /\s/u.test(chars[b - 1])) b--;
    return a < b ? { start: a, end: b } : null;
  }
  function addSpan(label, start, end) {
    if (!(start >= 0 && end <= chars.length && start < end)) { say("Select some text first.", true); return false; }
    const clash = entities.find((e) => start < e.end && e.start < end);
    if (clash) {
      say(`Rejected: overlaps the ${clash.label} span “${chars.slice(clash.start, clash.end).join("")}”.`, true);
      return false;
    }
    const before = clone(entities);
    entities.push({ label, start, end });
    history.push(before);
    selectedSpan = entities.length - 1;
    say(`Added ${label}: “${chars.slice(start, end).join("")}”.`);
    render();
    return true;
  }
  function addSelection() {
    const span = selectionSpan();
    if (!span) { say("Select some text first.", true); return false; }
    window.getSelection().removeAllRanges();
    return addSpan(cats[current], span.start, span.end);
  }
  function removeSpan(i) {
    if (i < 0 || i >= entities.length) return;
    const before = clone(entities);
    entities.splice(i, 1);
    history.push(before);
    selectedSpan = -1;
    say("Span removed.");
    render();
  }
  function restore(s) { if (s) { entities = s; selectedSpan = -1; render(); } }

  function key(e) {
    if (isUndo(e)) { restore(history.undo(entities)); return true; }
    if (isRedo(e)) { restore(history.redo(entities)); return true; }
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= Math.min(9, cats.length)) {
      current = n - 1;
      syncClasses();
      if (selectionSpan()) addSelection();
      return true;
    }
    if ((e.key === "Delete" || e.key === "Backspace") && selectedSpan >= 0) { removeSpan(selectedSpan); return true; }
    return false;
  }
  render();

  return {
    key,
    addSpan,
    answer() {
      return { payload: { entities: entities.map(({ label, start, end }) => ({ label, start, end })).sort((a, b) => a.start - b.start) } };
    },
    destroy() {},
  };
}
