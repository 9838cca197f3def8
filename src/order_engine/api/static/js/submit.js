// The order form: market, limit and sniper orders, with a quote preview (GET /api/quote)
// before sending (POST /api/orders/execute).

import { api, query } from "./api.js";
import { $, clear, debounce, h, short, shortId } from "./util.js";

function body(form) {
  const v = (name) => form.elements[name].value.trim();
  const order = {
    type: v("type"), tokenIn: v("tokenIn").toUpperCase(), tokenOut: v("tokenOut").toUpperCase(),
    amountIn: v("amountIn"), slippageBps: Number(v("slippageBps") || 50),
  };
  if (order.type === "limit") order.limitPrice = v("limitPrice");
  if (order.type === "sniper") {
    if (v("venue")) order.venue = v("venue");
    if (v("maxPrice")) order.maxPrice = v("maxPrice");
  }
  if (order.type !== "market" && v("timeInForceSeconds")) {
    order.timeInForceSeconds = Number(v("timeInForceSeconds"));
  }
  return order;
}

function preview(out, quote) {
  const rows = quote.quotes.map((q) => h("tr", {},
    h("td", { text: q.venue }), h("td", { text: `${q.tokenIn} → ${q.tokenOut}` }),
    h("td", { class: "num", text: short(q.amountOut) }), h("td", { class: "num", text: q.priceImpact })));
  out.replaceChildren(
    h("p", { dataset: { testid: "preview-summary" } },
      `Expect ${short(quote.amountOut)} ${quote.tokenOut} on ${quote.dex}`,
      quote.via ? ` via ${quote.via}` : "", `, at least ${short(quote.minAmountOut)} `,
      `(price impact ${quote.priceImpact}).`),
    h("p", { class: "reason", text: quote.reason }),
    h("table", { class: "compact" }, h("caption", { text: "Each venue's quote" }),
      h("thead", {}, h("tr", {}, ["Venue", "Pair", "Out", "Impact"].map((x) => h("th", { scope: "col", text: x })))),
      h("tbody", {}, rows)));
}

export function setupSubmit(form) {
  const out = $("#quote-preview");
  const result = $("#submit-result");
  const showFields = () => {
    const type = form.elements.type.value;
    for (const el of form.querySelectorAll("[data-for]")) {
      el.hidden = !el.dataset.for.split(" ").includes(type);
    }
  };
  const runPreview = async () => {
    const order = body(form);
    if (!order.amountIn || !order.tokenIn || !order.tokenOut) return;
    out.textContent = "Quoting…";
    try {
      const params = query({ tokenIn: order.tokenIn, tokenOut: order.tokenOut,
        amountIn: order.amountIn, slippageBps: order.slippageBps });
      preview(out, await api(`/api/quote?${params}`));
    } catch (err) {
      out.textContent = `No quote: ${err.message}`;
    }
  };
  form.elements.type.addEventListener("change", showFields);
  form.addEventListener("input", debounce(runPreview, 400));
  $("#preview-button").addEventListener("click", runPreview);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(result);
    try {
      const accepted = await api("/api/orders/execute", { method: "POST", body: body(form) });
      result.replaceChildren("Accepted: ", h("a", { href: `#/orders/${accepted.orderId}`,
        dataset: { orderId: accepted.orderId }, text: `order ${shortId(accepted.orderId)}` }),
        ` (${accepted.status}).`);
    } catch (err) {
      result.textContent = `Refused: ${err.message}${err.field ? ` (${err.field})` : ""}`;
      if (err.field && form.elements[err.field]) form.elements[err.field].focus();
    }
  });
  showFields();
}
