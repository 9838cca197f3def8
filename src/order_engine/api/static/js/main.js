// The dashboard: asks for the API key once, then follows the live feed of the caller's
// orders, draws the table, the price chart, the queue and (for admins) the launch panel,
// and an order's page at #/orders/<id>.

import { api, auth, query } from "./api.js";
import { PriceChart } from "./chart.js";
import { Feed } from "./feed.js";
import { renderOrder, renderTx } from "./order.js";
import { MAX_ORDERS, OrderBook, OrdersTable } from "./orders.js";
import { QueuePanel, setupLaunch } from "./panels.js";
import { setupSubmit } from "./submit.js";
import { $, debounce, h, shortId } from "./util.js";

const PAGE = 200;
const state = { who: null, loaded: false, shownOrder: null, events: 0 };
const book = new OrderBook((orderId) => state.table?.changed(orderId));
const chart = new PriceChart({ svg: $("#chart"), select: $("#chart-pair"), legend: $("#chart-legend"), status: $("#chart-status") });
const queuePanel = new QueuePanel($("#queue"));
const feed = new Feed({ onHello: hello, onEvent: event, onState: connection });
window.dashboard = { book, feed, state };  // for the browser tests and the curious

function notice(text) {
  $("#notice").textContent = text;
}

function connection(status, waitMs) {
  const el = $("#conn");
  el.dataset.state = status;
  document.body.dataset.connection = status;
  el.textContent = {
    connecting: "◌ Connecting…",
    live: "● Live",
    disconnected: `✗ Disconnected — reconnecting in ${((waitMs ?? 0) / 1000).toFixed(1)} s`,
  }[status];
}

async function hello(message, { resumed }) {
  // a first connection, a feed that lost events, or a reconnection before any event (the
  // feed then starts from now): read the orders
  if (!state.loaded || message.gap || !resumed) {
    state.loaded = true;
    await loadOrders();
  }
}

function event(message) {
  state.events += 1;
  book.addEvent(message);
  if (message.event.status === "confirmed") chart.addFill(message.order, message.event);
  if (state.shownOrder === message.order.orderId) redrawOrder();
}

async function loadOrders() {
  let cursor;
  let first = true;
  do {
    const page = await api(`/api/orders?${query({ limit: String(PAGE), cursor })}`);
    for (const view of page.items) book.addView(view);
    cursor = page.nextCursor ?? undefined;
    if (first) {
      first = false;
      state.table.renderAll();
      performance.mark("orders-first-page");
    }
  } while (cursor && book.orders.size < MAX_ORDERS);
  state.table.renderAll();
  requestAnimationFrame(() => performance.mark("orders-loaded"));
}

async function cancel(orderId) {
  try {
    await api(`/api/orders/${orderId}/cancel`, { method: "POST", body: {} });
    notice(`Order ${shortId(orderId)} cancelled.`);
  } catch (err) {
    notice(`Could not cancel ${shortId(orderId)}: ${err.message}`);
  }
}

const redrawOrder = debounce(() => route(), 150);

async function route() {
  const [, kind, id] = location.hash.match(/^#\/(orders|tx)\/([^/]+)$/) ?? [];
  const detail = $("#detail");
  $("#overview").hidden = Boolean(kind);
  detail.hidden = !kind;
  const was = state.shownOrder;
  state.shownOrder = kind === "orders" ? id : null;
  if (!kind) return;
  try {
    if (kind === "orders") await renderOrder(detail, id, { onCancel: cancel });
    else await renderTx(detail, id);
    if (was !== state.shownOrder) detail.querySelector("h2")?.focus();
  } catch (err) {
    detail.replaceChildren(h("p", {}, h("a", { href: "#/", text: "← All orders" })),
      h("p", { class: "error", text: `${err.code}: ${err.message}` }));
  }
}

function showLogin(message) {
  feed.stop();
  chart.stop();
  queuePanel.stop();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message ?? "";
  $("#key").focus();
}

async function start() {
  let who;
  try {
    who = await api("/api/events/token", { method: "POST" });
  } catch (err) {
    if (err.status === 401) { auth.forget(); showLogin("That key was refused."); return; }
    connection("disconnected", 1000);
    setTimeout(start, 1000);
    return;
  }
  state.who = who;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `account ${shortId(who.accountId ?? "open")} · key scope ${who.scope ?? "open"}`
    + (who.admin ? " · sees every account's orders" : " · sees its own orders");
  $("#launch-panel").hidden = !who.admin;
  $("#account-col").hidden = !who.admin;
  state.table = new OrdersTable(book, { tbody: $("#orders tbody"), count: $("#orders-count"),
    onCancel: cancel, showAccount: who.admin });
  if (who.admin) setupLaunch($("#launch-form"), $("#launches"));
  feed.start();
  chart.start();
  queuePanel.start();
  route();
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("#key").value.trim();
  if (!key) return;
  auth.save(key, $("#remember").checked);
  $("#key").value = "";
  start();
});
$("#logout").addEventListener("click", () => {
  auth.forget();
  location.hash = "#/";
  location.reload();
});
for (const [id, field] of [["#filter-status", "status"], ["#filter-type", "type"]]) {
  $(id).addEventListener("change", (ev) => state.table?.setFilter({ [field]: ev.target.value }));
}
auth.onUnauthorized = () => showLogin("The key was refused (revoked or expired?): sign in again.");
window.addEventListener("hashchange", route);
setupSubmit($("#submit-form"));

if (auth.key()) start();
else showLogin();
