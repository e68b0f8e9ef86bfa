// Semantic segmentation: polygon (click the corners, Enter or click the first point to close), brush and
// eraser, class palette, mask opacity, undo/redo. The mask is one class index per image pixel (0 =
// background, i+1 = class i), painted without anti-aliasing, so the PNG holds exactly the job's colours.
import { colorOf, h, loadImage } from "../common.js";
import { History, isRedo, isUndo } from "./history.js";
import { setSwatches } from "./boxes.js";

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// Fill a polygon (image pixel coordinates) into the index mask: a pixel is inside if its centre is.
export function fillPolygon(mask, W, H, pts, value) {
  const ys = pts.map((p) => p[1]);
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(H - 1, Math.ceil(Math.max(...ys)));
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    const xs = [];
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [xi, yi] = pts[i];
      const [xj, yj] = pts[j];
      if ((yi > cy) !== (yj > cy)) xs.push(xi + ((cy - yi) * (xj - xi)) / (yj - yi));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const a = Math.max(0, Math.ceil(xs[k] - 0.5));
      const b = Math.min(W - 1, Math.floor(xs[k + 1] - 0.5));
      if (b >= a) mask.fill(value, y * W + a, y * W + b + 1);
    }
  }
}

export function fillDisc(mask, W, H, cx, cy, r, value) {
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(H - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(W - 1, Math.ceil(cx + r)); x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r) mask[y * W + x] = value;
    }
  }
}

export function mountSegmentation(container, task, ctx, opts = {}) {
  const readonly = !!opts.readonly;
  const cats = task.categories;
  const colors = cats.map((_, i) => colorOf(i, task.color_map));
  const rgb = [[255, 255, 255], ...colors.map(hexToRgb)];
  let W = 0;
  let H = 0;
  let mask = null; // Uint8Array, W*H
  let img = null;
  let revoke = () => {};
  let current = 0;
  let mode = "polygon";
  let opacity = 0.5;
  let points = []; // polygon in progress (image px)
  let stroke = null;
  const history = new History((m) => m.slice(), 30);
  const view = { scale: 1, ox: 0, oy: 0 };

  const canvas = h("canvas", { class: "stage", tabindex: 0, width: 800, height: 520, "data-testid": "seg-canvas",
    "aria-label": "Image: click polygon corners and press Enter, or paint with the brush" });
  const g = canvas.getContext("2d");
  const maskCanvas = document.createElement("canvas");
  const mg = () => maskCanvas.getContext("2d");

  const classButtons = cats.map((c, i) => h("button", { type: "button", class: "class-btn",
    "aria-pressed": String(i === 0), onclick: () => setClass(i) },
  h("span", { class: "swatch", "data-color": colors[i] }), `${i < 9 ? i + 1 + " " : ""}${c}`));
  const modeButtons = ["polygon", "brush", "eraser"].map((m) => h("button", { type: "button",
    "aria-pressed": String(m === mode), dataset: { mode: m }, onclick: () => setMode(m) }, m[0].toUpperCase() + m.slice(1)));
  const brushSize = h("input", { type: "range", min: 1, max: 80, value: 12, id: `brush-${task.task_id}` });
  const opacityInput = h("input", { type: "range", min: 0, max: 100, value: 50, id: `opacity-${task.task_id}` });
  opacityInput.addEventListener("input", () => { opacity = Number(opacityInput.value) / 100; render(); });
  const status = h("p", { class: "muted", role: "status" });
  const btn = (label, fn, title) => h("button", { type: "button", onclick: fn, title: title || label }, label);

  container.append(
    h("div", { class: "toolbar", role: "toolbar", "aria-label": "Segmentation tools" },
      readonly ? [] : [h("div", { class: "classes", role: "group", "aria-label": "Class" }, classButtons),
        h("div", { role: "group", "aria-label": "Tool" }, modeButtons),
        h("label", { for: brushSize.id, class: "inline" }, "Brush ", brushSize),
        btn("Close polygon", () => closePolygon(), "Close the polygon (Enter)"),
        btn("Undo", () => doUndo(), "Undo (Ctrl+Z)"), btn("Redo", () => doRedo(), "Redo (Ctrl+Y)")],
      h("label", { for: opacityInput.id, class: "inline" }, "Opacity ", opacityInput)),
    canvas, status);
  setSwatches(container);

  function setClass(i) {
    current = i;
    classButtons.forEach((b, j) => b.setAttribute("aria-pressed", String(i === j)));
    if (mode === "eraser") setMode("brush");
  }
  function setMode(m) {
    mode = m;
    points = [];
    modeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === m)));
    render();
  }
  const toImage = (e) => {
    const r = canvas.getBoundingClientRect();
    const sx = (e.clientX - r.left) * (canvas.width / r.width);
    const sy = (e.clientY - r.top) * (canvas.height / r.height);
    return [(sx - view.ox) / view.scale, (sy - view.oy) / view.scale];
  };

  function paintMask() {
    const data = new ImageData(W, H);
    const d = data.data;
    for (let i = 0; i < mask.length; i++) {
      const c = rgb[mask[i]] || rgb[0];
      d[i * 4] = c[0]; d[i * 4 + 1] = c[1]; d[i * 4 + 2] = c[2]; d[i * 4 + 3] = 255;
    }
    maskCanvas.width = W;
    maskCanvas.height = H;
    mg().putImageData(data, 0, 0);
  }
  // The overlay shows only labelled pixels (background transparent) at the chosen opacity. Only the
  // rectangle a stroke touched is repainted, so brushing stays smooth on large images.
  const overlay = document.createElement("canvas");
  let overlayData = null;
  let dirty = null; // [x0, y0, x1, y1) in image pixels, or null
  function markDirty(x0, y0, x1, y1) {
    const r = [Math.max(0, Math.floor(x0)), Math.max(0, Math.floor(y0)), Math.min(W, Math.ceil(x1)), Math.min(H, Math.ceil(y1))];
    dirty = dirty ? [Math.min(dirty[0], r[0]), Math.min(dirty[1], r[1]), Math.max(dirty[2], r[2]), Math.max(dirty[3], r[3])] : r;
  }
  function paintOverlay() {
    if (!overlayData) {
      overlayData = new ImageData(W, H);
      overlay.width = W;
      overlay.height = H;
    }
    const [x0, y0, x1, y1] = dirty;
    if (x1 <= x0 || y1 <= y0) return;
    const d = overlayData.data;
    for (let y = y0; y < y1; y++) {
      for (let x = x0, i = y * W + x0; x < x1; x++, i++) {
        const v = mask[i];
        const c = rgb[v] || rgb[0];
        d[i * 4] = c[0]; d[i * 4 + 1] = c[1]; d[i * 4 + 2] = c[2]; d[i * 4 + 3] = v ? 255 : 0;
      }
    }
    overlay.getContext("2d").putImageData(overlayData, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }
  let frame = 0;
  // maskChanged: true (all of it) or an [x0, y0, x1, y1] rectangle.
  function render(maskChanged = false) {
    if (maskChanged === true) markDirty(0, 0, W, H);
    else if (maskChanged) markDirty(...maskChanged);
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }
  function draw() {
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#222";
    g.fillRect(0, 0, canvas.width, canvas.height);
    if (!img) return;
    if (dirty) { paintOverlay(); dirty = null; }
    g.imageSmoothingEnabled = false;
    g.drawImage(img, view.ox, view.oy, W * view.scale, H * view.scale);
    g.globalAlpha = opacity;
    g.drawImage(overlay, view.ox, view.oy, W * view.scale, H * view.scale);
    g.globalAlpha = 1;
    if (points.length) {
      g.strokeStyle = colors[current];
      g.lineWidth = 2;
      g.beginPath();
      points.forEach(([x, y], k) => {
        const sx = x * view.scale + view.ox;
        const sy = y * view.scale + view.oy;
        if (k) g.lineTo(sx, sy); else g.moveTo(sx, sy);
      });
      g.stroke();
      g.fillStyle = colors[current];
      for (const [x, y] of points) g.fillRect(x * view.scale + view.ox - 3, y * view.scale + view.oy - 3, 6, 6);
    }
    status.textContent = `${mode}${points.length ? ` (${points.length} points)` : ""}`;
  }

  function closePolygon() {
    if (points.length < 3) return;
    const before = mask.slice();
    fillPolygon(mask, W, H, points, current + 1);
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    points = [];
    history.push(before);
    render([Math.min(...xs) - 1, Math.min(...ys) - 1, Math.max(...xs) + 2, Math.max(...ys) + 2]);
  }
  function brushAt(p) {
    const r = Number(brushSize.value) / 2 / view.scale; // the brush size is in screen pixels
    fillDisc(mask, W, H, p[0], p[1], r, mode === "eraser" ? 0 : current + 1);
    markDirty(p[0] - r - 1, p[1] - r - 1, p[0] + r + 2, p[1] + r + 2);
  }
  canvas.addEventListener("pointerdown", (e) => {
    if (!img || readonly) return;
    canvas.focus();
    const p = toImage(e);
    if (mode === "polygon") {
      if (points.length >= 3) {
        const [fx, fy] = points[0];
        if (Math.hypot((fx - p[0]) * view.scale, (fy - p[1]) * view.scale) < 8) { closePolygon(); return; }
      }
      points.push(p);
      render();
      return;
    }
    canvas.setPointerCapture(e.pointerId);
    stroke = { before: mask.slice(), last: p };
    brushAt(p);
    render();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!stroke) return;
    const p = toImage(e);
    // Fill the gap between two pointer events so a fast stroke stays continuous.
    const spacing = Math.max(0.5, Number(brushSize.value) / 4 / view.scale);
    const steps = Math.ceil(Math.hypot(p[0] - stroke.last[0], p[1] - stroke.last[1]) / spacing);
    for (let k = 1; k <= steps; k++) {
      brushAt([stroke.last[0] + ((p[0] - stroke.last[0]) * k) / steps, stroke.last[1] + ((p[1] - stroke.last[1]) * k) / steps]);
    }
    stroke.last = p;
    render();
  });
  const endStroke = () => {
    if (!stroke) return;
    history.push(stroke.before);
    stroke = null;
    render();
  };
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function restore(m) { if (m) { mask = m; render(true); } }
  const doUndo = () => restore(history.undo(mask));
  const doRedo = () => restore(history.redo(mask));

  function key(e) {
    if (readonly) return false;
    if (isUndo(e)) { doUndo(); return true; }
    if (isRedo(e)) { doRedo(); return true; }
    if (e.key === "Enter" && points.length) { closePolygon(); return true; }
    if (e.key === "Escape" && points.length) { points = []; render(); return true; }
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= Math.min(9, cats.length)) { setClass(n - 1); return true; }
    if (e.key === "p") { setMode("polygon"); return true; }
    if (e.key === "b") { setMode("brush"); return true; }
    if (e.key === "e") { setMode("eraser"); return true; }
    return false;
  }

  async function loadInitialMask(url) {
    // A previous mask (adjustment/verification): colours back to class indices, unknown colours -> 0.
    const { img: m, revoke: rv } = await loadImage(url, ctx.api);
    const c = document.createElement("canvas");
    c.width = W; c.height = H;
    const cg = c.getContext("2d");
    cg.imageSmoothingEnabled = false;
    cg.drawImage(m, 0, 0, W, H);
    rv();
    const d = cg.getImageData(0, 0, W, H).data;
    const index = new Map(rgb.map((c2, i) => [c2.join(","), i]));
    for (let i = 0; i < W * H; i++) mask[i] = d[i * 4 + 3] < 128 ? 0 : (index.get(`${d[i * 4]},${d[i * 4 + 1]},${d[i * 4 + 2]}`) || 0);
  }

  const ready = loadImage(task.image_url, ctx.api).then(async (loaded) => {
    img = loaded.img;
    revoke = loaded.revoke;
    W = img.naturalWidth;
    H = img.naturalHeight;
    mask = new Uint8Array(W * H);
    if (opts.initialMaskUrl) await loadInitialMask(opts.initialMaskUrl);
    const w = Math.max(320, Math.min(1000, container.clientWidth || 800));
    canvas.width = w;
    canvas.height = Math.round(w * 0.65);
    view.scale = Math.min(canvas.width / W, canvas.height / H);
    view.ox = (canvas.width - W * view.scale) / 2;
    view.oy = (canvas.height - H * view.scale) / 2;
    render(true);
  }).catch((e) => { status.textContent = e.message; status.className = "error"; });

  return {
    ready,
    key,
    get view() { return { ...view }; },
    counts() {
      const c = new Array(cats.length + 1).fill(0);
      for (const v of mask) c[v]++;
      return c;
    },
    answer() {
      if (!img) throw new Error("The image has not loaded yet.");
      if (points.length) throw new Error("Close the polygon (Enter) or press Escape first.");
      paintMask();
      return { payload: { mask_png: maskCanvas.toDataURL("image/png").split(",", 2)[1] } };
    },
    destroy() { revoke(); },
  };
}
