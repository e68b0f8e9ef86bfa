// Shared helpers of the portal and the console: the API client (token in an Authorization header, kept in
// sessionStorage, never in a URL), DOM building without innerHTML, and small formatting helpers.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(storageKey) {
    this.storageKey = storageKey;
    this.token = sessionStorage.getItem(storageKey) || "";
  }
  setToken(token) {
    this.token = token;
    if (token) sessionStorage.setItem(this.storageKey, token);
    else sessionStorage.removeItem(this.storageKey);
  }
  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }
  async request(method, path, { json, body, raw = false } = {}) {
    const init = { method, headers: this.headers(), cache: "no-store" };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    } else if (body !== undefined) {
      init.body = body;
    }
    const resp = await fetch(path, init);
    if (!resp.ok) {
      let code = "http_" + resp.status;
      let message = resp.statusText;
      try {
        const err = await resp.json();
        if (err.error) ({ code, message } = err.error);
        else if (err.detail) message = JSON.stringify(err.detail);
      } catch { /* not JSON */ }
      throw new ApiError(resp.status, code, message);
    }
    if (raw) return resp;
    if (resp.status === 204) return null;
    return resp.json();
  }
  get(path, opts) { return this.request("GET", path, opts); }
  post(path, opts) { return this.request("POST", path, opts); }
  async lines(path) {
    const resp = await this.request("GET", path, { raw: true });
    const text = await resp.text();
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }
}

// h("div", {class: "x", onclick: fn}, child, "text") -> element. Text is always set as text, never HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtMoney(x) { return "$" + Number(x || 0).toFixed(2); }
export function fmtPct(x) { return Math.round(100 * Number(x || 0)) + "%"; }

// An image the browser may show: data:/blob: as is; gateway URLs fetched with the token (an <img> cannot
// send an Authorization header) and shown as a blob URL.
export async function loadImage(url, api) {
  let src = url;
  let revoke = null;
  if (!/^(data|blob):/.test(url)) {
    const resp = await fetch(url, { headers: api ? api.headers() : {}, cache: "no-store" });
    if (!resp.ok) throw new ApiError(resp.status, "image_unavailable", `the image could not be loaded (${resp.status})`);
    src = URL.createObjectURL(await resp.blob());
    revoke = src;
  }
  const img = new Image();
  img.decoding = "async";
  img.src = src;
  await img.decode();
  return { img, revoke: () => revoke && URL.revokeObjectURL(revoke) };
}

export const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
  "#9a6324", "#469990", "#800000", "#808000", "#000075"];
export function colorOf(i, colorMap) { return (colorMap && colorMap[i]) || PALETTE[i % PALETTE.length]; }
