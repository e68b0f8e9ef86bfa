// Bounding boxes on a canvas: draw (drag on empty image), select (click), move (drag a box), resize (drag a
// corner handle), delete, change class, zoom/fit/pan, "nothing to label", undo/redo. Coordinates are kept
// in image pixels; the view transform only maps them to the screen, so zooming never changes an answer.
import { colorOf, h, loadImage } from "../common.js";
import { History, isRedo, isUndo } from "./history.js";

const HANDLE = 7; // screen pixels
const MIN_SIZE = 2; // image pixels: a smaller drag is a click, not a box

const clone = (s) => JSON.parse(JSON.stringify(s));

export function mountBoxes(container, task, ctx, opts = {}) {
  const readonly = !!opts.readonly;
  const cats = task.categories;
  let state = { boxes: clone(opts.initial || []), none: false };
  let selected = -1;
  let current = 0;
  let img = null;
  let revoke = () => {};
  const view = { scale: 1, ox: 0, oy: 0 };
  const history = new History(clone);
  let drag = null;
  let panMode = false;
  let spaceDown = false;

  const canvas = h("canvas", {
    class: "stage", tabindex: 0, width: 800, height: 520, "data-testid": "box-canvas",
    "aria-label": readonly ? "Image with the boxes to verify" :
      "Image: drag to draw a box; arrows move the selected box; Delete removes it",
  });
  const g = canvas.getContext("2d");
  const classButtons = cats.map((c, i) => h("button", {
    type: "button", class: "class-btn", "aria-pressed": i === 0 ? "true" : "false", dataset: { cls: String(i) },
    onclick: () => setClass(i),
  }, h("span", { class: "swatch", "data-color": colorOf(i) }), `${i < 9 ? i + 1 + " " : ""}${c}`));
  const btn = (label, fn, title) => h("button", { type: "button", onclick: fn, title: title || label }, label);
  const noneBox = h("input", { type: "checkbox", id: `none-${task.task_id}` });
  noneBox.addEventListener("change", () => {
    const before = clone(state);
    state.none = noneBox.checked;
    if (state.none) { state.boxes = []; selected = -1; }
    history.push(before);
    render();
  });
  const list = h("ol", { class: "box-list", "aria-label": "Boxes" });
  const status = h("p", { class: "muted", role: "status" });

  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Box tools" },
    readonly ? [] : [h("div", { class: "classes", role: "group", "aria-label": "Class" }, classButtons),
      btn("Undo", () => doUndo(), "Undo (Ctrl+Z)"), btn("Redo", () => doRedo(), "Redo (Ctrl+Y)"),
      btn("Delete", () => removeSelected(), "Delete the selected box (Delete)")],
    btn("Zoom in", () => zoomBy(1.25), "Zoom in (+)"), btn("Zoom out", () => zoomBy(0.8), "Zoom out (-)"),
    btn("Fit", () => fit(), "Fit the image (0)"),
    h("button", { type: "button", "aria-pressed": "false", onclick: (e) => {
      panMode = !panMode; e.currentTarget.setAttribute("aria-pressed", String(panMode));
    } }, "Pan"),
    readonly ? [] : h("label", { for: noneBox.id, class: "inline" }, noneBox, " Nothing to label"));
  container.append(toolbar, canvas, status, readonly ? [] : list);
  setSwatches(container);

  function setClass(i) {
    current = i;
    classButtons.forEach((b, j) => b.setAttribute("aria-pressed", String(i === j)));
    if (selected >= 0 && state.boxes[selected].label !== cats[i]) {
      const before = clone(state);
      state.boxes[selected].label = cats[i];
      history.push(before);
    }
    render();
  }

  const toScreen = (x, y) => [x * view.scale + view.ox, y * view.scale + view.oy];
  const toImage = (e) => {
    const r = canvas.getBoundingClientRect();
    const sx = (e.clientX - r.left) * (canvas.width / r.width);
    const sy = (e.clientY - r.top) * (canvas.height / r.height);
    return [(sx - view.ox) / view.scale, (sy - view.oy) / view.scale];
  };
  function fit() {
    if (!img) return;
    view.scale = Math.min(canvas.width / img.naturalWidth, canvas.height / img.naturalHeight);
    view.ox = (canvas.width - img.naturalWidth * view.scale) / 2;
    view.oy = (canvas.height - img.naturalHeight * view.scale) / 2;
    render();
  }
  function zoomBy(f, cx = canvas.width / 2, cy = canvas.height / 2) {
    const s = Math.min(40, Math.max(0.05, view.scale * f));
    view.ox = cx - ((cx - view.ox) * s) / view.scale;
    view.oy = cy - ((cy - view.oy) * s) / view.scale;
    view.scale = s;
    render();
  }
  function clampBox(b) {
    if (!img) return b;
    const W = img.naturalWidth;
    const H = img.naturalHeight;
    b.width = Math.min(Math.max(b.width, 0), W);
    b.height = Math.min(Math.max(b.height, 0), H);
    b.left = Math.min(Math.max(b.left, 0), W - b.width);
    b.top = Math.min(Math.max(b.top, 0), H - b.height);
    return b;
  }

  let frame = 0;
  function render() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
    renderList();
  }
  function draw() {
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#222";
    g.fillRect(0, 0, canvas.width, canvas.height);
    if (!img) return;
    g.imageSmoothingEnabled = view.scale < 2;
    g.drawImage(img, view.ox, view.oy, img.naturalWidth * view.scale, img.naturalHeight * view.scale);
    state.boxes.forEach((b, i) => {
      const [x, y] = toScreen(b.left, b.top);
      const w = b.width * view.scale;
      const hh = b.height * view.scale;
      const color = colorOf(Math.max(0, cats.indexOf(b.label)));
      g.lineWidth = i === selected ? 3 : 2;
      g.strokeStyle = color;
      g.strokeRect(x, y, w, hh);
      g.fillStyle = color;
      g.font = "13px system-ui, sans-serif";
      g.fillText(`${i + 1} ${b.label}`, x + 3, y > 16 ? y - 4 : y + 14);
      if (i === selected && !readonly) {
        for (const [hx, hy] of corners(b)) g.fillRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
      }
    });
  }
  function corners(b) {
    const [x, y] = toScreen(b.left, b.top);
    const x2 = x + b.width * view.scale;
    const y2 = y + b.height * view.scale;
    return [[x, y], [x2, y], [x, y2], [x2, y2]];
  }
  function renderList() {
    status.textContent = state.none ? "Nothing to label in this image." :
      `${state.boxes.length} box(es)` + (selected >= 0 ? `, box ${selected + 1} selected` : "");
    list.replaceChildren(...state.boxes.map((b, i) => h("li", {},
      h("button", { type: "button", class: i === selected ? "selected" : "", "aria-pressed": String(i === selected),
        onclick: () => { selected = i; render(); canvas.focus(); } },
      `${b.label}: ${Math.round(b.left)},${Math.round(b.top)} ${Math.round(b.width)}×${Math.round(b.height)}`))));
  }

  function hit(p) {
    const [sx, sy] = toScreen(p[0], p[1]);
    if (selected >= 0) {
      const cs = corners(state.boxes[selected]);
      for (let k = 0; k < 4; k++) {
        if (Math.abs(cs[k][0] - sx) <= HANDLE && Math.abs(cs[k][1] - sy) <= HANDLE) return { kind: "resize", i: selected, corner: k };
      }
    }
    for (let i = state.boxes.length - 1; i >= 0; i--) {
      const b = state.boxes[i];
      if (p[0] >= b.left && p[0] <= b.left + b.width && p[1] >= b.top && p[1] <= b.top + b.height) return { kind: "move", i };
    }
    return null;
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (!img) return;
    canvas.focus();
    canvas.setPointerCapture(e.pointerId);
    const p = toImage(e);
    if (panMode || spaceDown || e.button === 1 || readonly) {
      drag = { kind: "pan", sx: e.clientX, sy: e.clientY, ox: view.ox, oy: view.oy };
      return;
    }
    const before = clone(state);
    const target = hit(p);
    if (target) {
      selected = target.i;
      const b = state.boxes[target.i];
      drag = { ...target, before, start: p, orig: { ...b } };
    } else if (!state.none) {
      state.boxes.push({ label: cats[current], left: p[0], top: p[1], width: 0, height: 0 });
      selected = state.boxes.length - 1;
      drag = { kind: "draw", i: selected, before, start: p };
    }
    render();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    if (drag.kind === "pan") {
      const r = canvas.getBoundingClientRect();
      view.ox = drag.ox + (e.clientX - drag.sx) * (canvas.width / r.width);
      view.oy = drag.oy + (e.clientY - drag.sy) * (canvas.height / r.height);
      render();
      return;
    }
    const p = toImage(e);
    const b = state.boxes[drag.i];
    const W = img.naturalWidth;
    const H = img.naturalHeight;
    const cx = Math.min(Math.max(p[0], 0), W);
    const cy = Math.min(Math.max(p[1], 0), H);
    if (drag.kind === "draw") {
      b.left = Math.min(drag.start[0], cx);
      b.top = Math.min(drag.start[1], cy);
      b.width = Math.abs(cx - drag.start[0]);
      b.height = Math.abs(cy - drag.start[1]);
    } else if (drag.kind === "move") {
      b.left = drag.orig.left + (p[0] - drag.start[0]);
      b.top = drag.orig.top + (p[1] - drag.start[1]);
      clampBox(b);
    } else if (drag.kind === "resize") {
      const o = drag.orig;
      // The corner opposite the dragged one stays put.
      const fx = drag.corner % 2 === 0 ? o.left + o.width : o.left;
      const fy = drag.corner < 2 ? o.top + o.height : o.top;
      b.left = Math.min(fx, cx);
      b.top = Math.min(fy, cy);
      b.width = Math.abs(cx - fx);
      b.height = Math.abs(cy - fy);
    }
    render();
  });
  const endDrag = () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.kind === "pan") return;
    const b = state.boxes[d.i];
    if (d.kind === "draw" && (b.width < MIN_SIZE || b.height < MIN_SIZE)) {
      state.boxes.splice(d.i, 1);
      selected = -1;
    } else if (JSON.stringify(d.before) !== JSON.stringify(state)) {
      history.push(d.before);
    }
    render();
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15, (e.clientX - r.left) * (canvas.width / r.width),
      (e.clientY - r.top) * (canvas.height / r.height));
  }, { passive: false });
  canvas.addEventListener("keyup", (e) => { if (e.key === " ") spaceDown = false; });

  function removeSelected() {
    if (selected < 0 || readonly) return;
    const before = clone(state);
    state.boxes.splice(selected, 1);
    selected = -1;
    history.push(before);
    render();
  }
  function restore(s) {
    if (!s) return;
    state = s;
    noneBox.checked = state.none;
    if (selected >= state.boxes.length) selected = -1;
    render();
  }
  const doUndo = () => restore(history.undo(state));
  const doRedo = () => restore(history.redo(state));

  function key(e) {
    if (e.key === " " && document.activeElement === canvas) { spaceDown = true; return true; }
    if (["+", "="].includes(e.key)) { zoomBy(1.25); return true; }
    if (e.key === "-") { zoomBy(0.8); return true; }
    if (e.key === "0") { fit(); return true; }
    if (readonly) return false;
    if (isUndo(e)) { doUndo(); return true; }
    if (isRedo(e)) { doRedo(); return true; }
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= Math.min(9, cats.length)) { setClass(n - 1); return true; }
    if ((e.key === "Delete" || e.key === "Backspace") && selected >= 0) { removeSelected(); return true; }
    if (e.key === "Escape") { selected = -1; render(); return true; }
    if (e.key.startsWith("Arrow") && selected >= 0) {
      const step = e.shiftKey ? 10 : 1;
      const before = clone(state);
      const b = state.boxes[selected];
      if (e.key === "ArrowLeft") b.left -= step;
      if (e.key === "ArrowRight") b.left += step;
      if (e.key === "ArrowUp") b.top -= step;
      if (e.key === "ArrowDown") b.top += step;
      clampBox(b);
      history.push(before);
      render();
      return true;
    }
    return false;
  }

  const ready = loadImage(task.image_url, ctx.api).then((loaded) => {
    img = loaded.img;
    revoke = loaded.revoke;
    const w = Math.max(320, Math.min(1000, container.clientWidth || 800));
    canvas.width = w;
    canvas.height = Math.round(w * 0.65);
    fit();
  }).catch((e) => { status.textContent = e.message; status.className = "error"; });

  return {
    ready,
    key,
    get selected() { return selected; },
    get view() { return { ...view }; },
    answer() {
      if (!img) throw new Error("The image has not loaded yet.");
      if (!state.boxes.length && !state.none) throw new Error('Draw at least one box, or tick "Nothing to label".');
      const r = (x) => Math.round(x * 10) / 10;
      return {
        payload: {
          boxes: state.boxes.map((b) => ({ label: b.label, left: r(b.left), top: r(b.top), width: r(b.width), height: r(b.height) })),
          image_size: { width: img.naturalWidth, height: img.naturalHeight },
        },
      };
    },
    destroy() { revoke(); },
  };
}

// Colour swatches without inline styles (CSP): set each swatch's colour from its data attribute.
export function setSwatches(root) {
  root.querySelectorAll(".swatch[data-color]").forEach((s) => { s.style.backgroundColor = s.dataset.color; });
}
