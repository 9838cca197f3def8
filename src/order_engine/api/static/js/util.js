// Small DOM and formatting helpers. Data from the server is only ever set as text
// (textContent or attributes), never parsed as HTML.

/** h("tr", {class: "x", dataset: {id: 1}}, child, "text") builds an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clear(el) {
  el.replaceChildren();
  return el;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** 14:03:27.512, local time. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "+1.234 s" or "+87 ms". */
export function elapsed(ms) {
  if (ms >= 1000) return `+${(ms / 1000).toFixed(3)} s`;
  return `+${Math.round(ms)} ms`;
}

/** A decimal string shortened for a table cell (the full value stays in the title). */
export function short(value, digits = 6) {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (n !== 0 && Math.abs(n) < 10 ** -digits) return n.toExponential(3);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export const shortId = (id) => (id ? id.slice(0, 8) : "");

// Statuses carry a word and a symbol, so they read without colour.
const MARKS = {
  pending: "○", waiting: "◷", routing: "→", building: "⚙", submitted: "↑",
  confirmed: "✓", failed: "✗", cancelled: "⊘", expired: "⌛",
};
export const TERMINAL = new Set(["confirmed", "failed", "cancelled", "expired"]);
export const CANCELLABLE = new Set(["pending", "waiting", "routing", "building"]);

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, dataset: { status } },
    h("span", { "aria-hidden": "true", text: `${MARKS[status] ?? "•"} ` }), status);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
