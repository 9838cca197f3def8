// Prices per pair and venue over the last minutes, drawn as SVG, with fills marked. Fed by
// polling GET /api/quote for a few pairs (each venue's pool price) and by the feed's
// confirmed events (the order's executed price, in the pair's convention).

import { api, query } from "./api.js";
import { clear, clock, h, short } from "./util.js";

export const PAIRS = [["SOL", "USDC"], ["SOL", "USDT"], ["JUP", "USDC"]];
const WINDOW_MS = 5 * 60_000;
const POLL_MS = 3000;
const MAX_FILLS = 300;  // markers kept per pair (the newest), so a busy run stays bounded
const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 220, PAD = { left: 64, right: 12, top: 12, bottom: 28 };
// Venues differ by dash pattern and marker shape as well as by colour.
const STYLES = [
  { dash: "", cls: "series-0" }, { dash: "6 4", cls: "series-1" }, { dash: "2 3", cls: "series-2" },
];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export class PriceChart {
  constructor({ svg, select, legend, status }) {
    this.svg = svg;
    this.select = select;
    this.legend = legend;
    this.status = status;
    this.series = new Map();  // "SOL/USDC" -> Map(venue -> [{t, price}])
    this.fills = new Map();  // "SOL/USDC" -> [{t, price, venue, side, orderId}]
    this.timer = null;
    for (const [base, quote] of PAIRS) {
      const name = `${base}/${quote}`;
      this.series.set(name, new Map());
      this.fills.set(name, []);
      select.append(h("option", { value: name, text: name }));
    }
    select.addEventListener("change", () => this.draw());
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      await this.poll();
      this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  async poll() {
    const now = Date.now();
    await Promise.all(PAIRS.map(async ([base, quote]) => {
      try {
        const answer = await api(`/api/quote?${query({ tokenIn: base, tokenOut: quote, amountIn: "1" })}`);
        const venues = this.series.get(`${base}/${quote}`);
        for (const q of answer.quotes) {
          if (q.tokenIn !== base || q.tokenOut !== quote) continue;  // a two-hop leg
          const points = venues.get(q.venue) ?? [];
          points.push({ t: now, price: Number(q.price) });
          venues.set(q.venue, points);
        }
        this.status.textContent = `prices at ${clock(now)}`;
      } catch (err) {
        this.status.textContent = `no quote: ${err.message}`;
      }
    }));
    this.trim(now);
    this.draw();
  }

  /** A confirmed event of an order (its summary says the pair and type). */
  addFill(order, event) {
    if (!event.executedPrice) return;
    let price = Number(event.executedPrice);  // tokenOut per tokenIn; sniper: the inverse
    if (order.type === "sniper") price = 1 / price;
    for (const [base, quote] of PAIRS) {
      let side = null;
      if (order.tokenIn === base && order.tokenOut === quote) side = "sell";
      else if (order.tokenIn === quote && order.tokenOut === base) { side = "buy"; price = 1 / price; }
      if (!side) continue;
      const fills = this.fills.get(`${base}/${quote}`);
      fills.push({ t: event.tsMs, price, venue: event.dex, side, orderId: order.orderId });
      if (fills.length > MAX_FILLS) fills.splice(0, fills.length - MAX_FILLS);
    }
    this.trim(Date.now());
  }

  trim(now) {
    const since = now - WINDOW_MS;
    for (const venues of this.series.values()) {
      for (const [venue, points] of venues) {
        venues.set(venue, points.filter((p) => p.t >= since));
      }
    }
    for (const [name, fills] of this.fills) this.fills.set(name, fills.filter((f) => f.t >= since));
  }

  draw() {
    const name = this.select.value;
    const venues = [...this.series.get(name).entries()].sort();
    const fills = this.fills.get(name);
    const all = venues.flatMap(([, points]) => points).concat(fills);
    clear(this.svg);
    this.svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.svg.append(s("title", {}, `${name}: each venue's price over the last 5 minutes, fills marked`));
    if (all.length === 0) {
      this.svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "waiting for prices…"));
      clear(this.legend);
      return;
    }
    const now = Date.now();
    let lo = Math.min(...all.map((p) => p.price)), hi = Math.max(...all.map((p) => p.price));
    if (hi - lo < hi * 1e-6) { lo -= hi * 1e-4; hi += hi * 1e-4; }
    const x = (t) => PAD.left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * (W - PAD.left - PAD.right);
    const y = (p) => PAD.top + (1 - (p - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
    this.axes(lo, hi, now, y);
    venues.forEach(([venue, points], i) => {
      const style = STYLES[i % STYLES.length];
      if (points.length) {
        this.svg.append(s("polyline", {
          class: `line ${style.cls}`, "stroke-dasharray": style.dash, fill: "none",
          points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.price).toFixed(1)}`).join(" "),
        }));
      }
    });
    for (const f of fills) {
      const cx = x(f.t), cy = y(f.price);
      const d = f.side === "buy" ? `M${cx},${cy - 6} l6,10 h-12 z` : `M${cx},${cy + 6} l6,-10 h-12 z`;
      const mark = s("path", { d, class: `fill-mark fill-${f.side}` });
      mark.append(s("title", {}, `${f.side} fill ${short(f.price)} on ${f.venue} at ${clock(f.t)} (order ${f.orderId})`));
      this.svg.append(mark);
    }
    this.drawLegend(venues, fills);
  }

  axes(lo, hi, now, y) {
    const g = s("g", { class: "axes" });
    for (const p of [lo, (lo + hi) / 2, hi]) {
      g.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(p), y2: y(p), class: "grid" }));
      g.append(s("text", { x: PAD.left - 4, y: y(p) + 4, "text-anchor": "end" }, short(p, 4)));
    }
    for (const back of [5, 4, 3, 2, 1, 0]) {
      const t = now - back * 60_000;
      const tx = PAD.left + ((WINDOW_MS - back * 60_000) / WINDOW_MS) * (W - PAD.left - PAD.right);
      g.append(s("text", { x: tx, y: H - 8, "text-anchor": "middle" }, back ? `-${back} min` : clock(t).slice(0, 8)));
    }
    this.svg.append(g);
  }

  drawLegend(venues, fills) {
    clear(this.legend);
    venues.forEach(([venue, points], i) => {
      const last = points.at(-1);
      const style = STYLES[i % STYLES.length];
      const key = s("svg", { width: 28, height: 10, "aria-hidden": "true" });
      key.append(s("line", { x1: 0, x2: 28, y1: 5, y2: 5, class: `line ${style.cls}`, "stroke-dasharray": style.dash }));
      this.legend.append(h("li", {}, key, ` ${venue}: ${last ? short(last.price) : "–"}`,
        ` (${["solid", "dashed", "dotted"][i % 3]} line)`));
    });
    this.legend.append(h("li", {}, `▲ buy / ▼ sell fills: ${fills.length} in the last 5 minutes (at most ${MAX_FILLS} drawn)`));
  }
}
