// One order's page: its summary, the timeline with the time between steps, the routing
// decision (every venue's quote, the chosen route and split, price impact, minimum out),
// each leg's transaction (signature, slot, fee, compute units, linking to the chain's
// view), attempts and errors. It redraws when the feed brings an event of this order.

import { api } from "./api.js";
import { CANCELLABLE, clock, elapsed, h, short, statusBadge } from "./util.js";

const dl = (pairs) => h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
  .map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));

const table = (caption, headers, rows, attrs = {}) => h("table", attrs,
  h("caption", { text: caption }),
  h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", text: x })))),
  h("tbody", {}, rows));

const cell = (value, num = false) => h("td", { class: num ? "num" : undefined, title: num ? value : undefined, text: value ?? "" });

function summary(order) {
  return dl([
    ["Type", order.type], ["Pair", `${order.tokenIn} → ${order.tokenOut}`],
    ["Amount in", order.amountIn], ["Slippage", `${order.slippageBps} bps`],
    ["Created", order.createdAt], ["Attempt", String(order.attempt)],
    ["Venue", order.dex], ["Executed price", order.executedPrice],
    ["Amount out", order.amountOut], ["Minimum out", order.minAmountOut],
    ["Filled in", order.filledAmountIn], ["Partial", order.partial ? "yes" : undefined],
    ["Limit price", order.limitPrice], ["Sniper venue", order.venue], ["Max price", order.maxPrice],
    ["Best price seen", order.bestPrice], ["Expires", order.expiresAt], ["User label", order.userId],
    ["Paid by", order.wallet === "engine" ? "the engine's wallet" : order.wallet],
  ]);
}

function timeline(events) {
  return h("ol", { class: "timeline", "aria-label": "lifecycle" }, events.map((e, i) => {
    const gap = i === 0 ? "start" : elapsed(e.tsMs - events[i - 1].tsMs);
    return h("li", { dataset: { status: e.status } },
      statusBadge(e.status), ` at ${clock(e.tsMs)} `,
      h("span", { class: "delta", text: `(${gap})` }),
      e.attempt ? ` attempt ${e.attempt}` : "",
      e.reason ? h("span", { class: "reason", text: ` — ${e.reason}` }) : "",
      e.error ? h("span", { class: "reason", text: ` — ${e.error.code}: ${e.error.message}` }) : "");
  }));
}

function routing(events) {
  const building = events.filter((e) => e.status === "building").at(-1);
  if (!building) return h("p", { text: "Not routed yet." });
  const route = building.route.map((leg, i) => h("tr", { dataset: { testid: "route-leg" } },
    cell(String(i + 1)), cell(leg.venue), cell(`${leg.tokenIn} → ${leg.tokenOut}`),
    cell(leg.amountIn, true), cell(leg.amountOut, true)));
  const quotes = building.quotes.map((q) => h("tr", { dataset: { testid: "venue-quote" } },
    cell(q.venue), cell(`${q.tokenIn} → ${q.tokenOut}`), cell(q.price, true),
    cell(q.amountOut, true), cell(q.fee, true), cell(q.priceImpact, true), cell(String(q.poolVersion ?? "")),
    cell(q.aheadAmountIn ?? "", true)));
  const unavailable = Object.entries(building.unavailable ?? {});
  return h("div", {},
    h("p", { class: "reason", dataset: { testid: "routing-reason" }, text: building.reason }),
    dl([["Chosen", building.dex], ["Via", building.via], ["Expected out", building.amountOut],
      ["Price impact", building.priceImpact], ["Minimum out", building.minAmountOut]]),
    table("Chosen route (one row per leg; several when split)",
      ["#", "Venue", "Pair", "Amount in", "Amount out"], route, { class: "route" }),
    table("Every venue's quote (priced behind: the engine's own swaps on that pool not landed yet, in the token sold)",
      ["Venue", "Pair", "Price", "Amount out", "Fee", "Price impact", "Pool version", "Priced behind"],
      quotes, { class: "quotes" }),
    unavailable.length ? h("ul", {}, unavailable.map(([v, why]) => h("li", { text: `${v}: ${why}` }))) : null);
}

function legs(order) {
  if (!order.legs.length) return h("p", { text: "No transaction yet." });
  const rows = order.legs.map((leg) => h("tr", { dataset: { testid: "leg" } },
    cell(leg.hop ? String(leg.hop) : ""), cell(leg.dex),
    h("td", {}, h("a", { href: `#/tx/${leg.txHash}`, class: "mono", title: `GET /api/chain/tx/${leg.txHash}`, text: leg.txHash })),
    cell(leg.state), cell(leg.amountIn, true), cell(leg.amountOut, true), cell(leg.minAmountOut, true),
    cell(leg.slot === null || leg.slot === undefined ? "" : String(leg.slot), true),
    cell(leg.fee === null || leg.fee === undefined ? "" : String(leg.fee), true),
    cell(leg.computeUnits === null || leg.computeUnits === undefined ? "" : String(leg.computeUnits), true)));
  return table("Transactions (legs)", ["Hop", "Venue", "Signature", "State", "In", "Out", "Min out", "Slot", "Fee (lamports)", "Compute units"], rows, { class: "legs" });
}

function attempts(order) {
  const rows = order.attempts.map((a) => h("li", { text: `attempt ${a.attempt} at ${clock(a.tsMs)}: ${a.code} — ${a.message}` }));
  return h("div", {},
    order.error ? h("p", { class: "error", role: "note", text: `Error: ${order.error.code} — ${order.error.message}` }) : null,
    rows.length ? h("ul", { class: "attempts" }, rows) : h("p", { text: "No failed attempt." }));
}

export async function renderOrder(root, orderId, { onCancel }) {
  const [order, log] = await Promise.all([
    api(`/api/orders/${orderId}`), api(`/api/orders/${orderId}/events`),
  ]);
  const cancel = CANCELLABLE.has(order.status)
    ? h("button", { type: "button", onclick: () => onCancel(orderId), text: "Cancel this order" }) : null;
  root.replaceChildren(
    h("p", {}, h("a", { href: "#/", text: "← All orders" })),
    h("h2", { tabindex: "-1" }, `Order ${order.orderId} `, statusBadge(order.status)),
    h("div", {}, cancel),
    h("section", { "aria-labelledby": "o-summary" }, h("h3", { id: "o-summary", text: "Summary" }), summary(order)),
    h("section", { "aria-labelledby": "o-timeline" }, h("h3", { id: "o-timeline", text: "Timeline" }), timeline(log.events)),
    h("section", { "aria-labelledby": "o-routing" }, h("h3", { id: "o-routing", text: "Routing decision" }), routing(log.events)),
    h("section", { "aria-labelledby": "o-legs" }, h("h3", { id: "o-legs", text: "Transactions" }), legs(order)),
    h("section", { "aria-labelledby": "o-attempts" }, h("h3", { id: "o-attempts", text: "Attempts and errors" }), attempts(order)));
  return order;
}

export async function renderTx(root, signature) {
  root.replaceChildren(h("p", {}, h("button", { type: "button", onclick: () => history.back(), text: "← Back" })),
    h("h2", { tabindex: "-1", text: "Transaction" }), h("p", { class: "mono", text: signature }));
  try {
    const tx = await api(`/api/chain/tx/${signature}`);
    root.append(dl([["Slot", String(tx.slot)], ["Status", tx.status], ["Commitment", tx.commitment],
      ["Fee (lamports)", String(tx.fee)], ["Compute units", String(tx.computeUnits ?? "")], ["Memo", tx.memo]]),
    h("h3", { text: "As GET /api/chain/tx answers it" }), h("pre", { text: JSON.stringify(tx, null, 2) }));
  } catch (err) {
    root.append(h("p", { class: "error", text: `${err.code}: ${err.message}` }));
  }
}
