// The orders the dashboard knows (the newest MAX_ORDERS) and their live table. Rows are
// updated in place as events arrive; the DOM never holds more than MAX_ORDERS rows, and the
// book forgets the oldest orders beyond that, so a long run does not grow the page.

import { CANCELLABLE, clock, h, short, shortId, statusBadge } from "./util.js";

export const MAX_ORDERS = 1000;

function rowOf(summary) {
  return {
    orderId: summary.orderId,
    accountId: summary.accountId ?? null,
    type: summary.type,
    tokenIn: summary.tokenIn,
    tokenOut: summary.tokenOut,
    amountIn: summary.amountIn,
    createdMs: Date.parse(summary.createdAt),
    status: summary.status ?? "pending",
    seq: summary.seq ?? 0,
    dex: summary.dex ?? null,
    executedPrice: summary.executedPrice ?? null,
    amountOut: summary.amountOut ?? null,
  };
}

export class OrderBook {
  constructor(onChange) {
    this.orders = new Map();
    this.onChange = onChange;
  }

  /** An order as GET /api/orders shows it; kept only if newer than what the feed said. */
  addView(view) {
    const known = this.orders.get(view.orderId);
    if (known && known.seq >= view.seq) return;
    this.orders.set(view.orderId, rowOf(view));
    this.changed(view.orderId);
  }

  /** One feed message: {order: summary, event}. Stale or repeated events are dropped. */
  addEvent({ order, event }) {
    let row = this.orders.get(order.orderId);
    if (!row) {
      row = rowOf(order);
      this.orders.set(order.orderId, row);
    }
    if (event.seq <= row.seq) return;
    row.seq = event.seq;
    row.status = event.status;
    if (event.dex) row.dex = event.dex;
    if (event.executedPrice) row.executedPrice = event.executedPrice;
    if (event.amountOut && event.status === "confirmed") row.amountOut = event.amountOut;
    this.changed(order.orderId);
  }

  changed(orderId) {
    this.evict();
    this.onChange(orderId);
  }

  evict() {
    while (this.orders.size > MAX_ORDERS) {
      let oldest = null;
      for (const row of this.orders.values()) {
        if (!oldest || row.createdMs < oldest.createdMs) oldest = row;
      }
      this.orders.delete(oldest.orderId);
      this.onChange(oldest.orderId);
    }
  }

  clear() {
    this.orders.clear();
  }
}

export class OrdersTable {
  constructor(book, { tbody, count, onCancel, showAccount }) {
    this.book = book;
    this.tbody = tbody;
    this.count = count;
    this.onCancel = onCancel;
    this.showAccount = showAccount;
    this.rows = new Map();  // orderId -> <tr>
    this.filter = { status: "", type: "" };
    this.dirty = new Set();
    this.frame = null;
  }

  matches(row) {
    return (!this.filter.status || row.status === this.filter.status)
      && (!this.filter.type || row.type === this.filter.type);
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.renderAll();
  }

  /** Redraw every row (first load, a filter change). */
  renderAll() {
    const shown = [...this.book.orders.values()].filter((r) => this.matches(r))
      .sort((a, b) => b.createdMs - a.createdMs).slice(0, MAX_ORDERS);
    this.rows.clear();
    const fragment = document.createDocumentFragment();
    for (const row of shown) {
      const tr = this.build(row);
      this.rows.set(row.orderId, tr);
      fragment.append(tr);
    }
    this.tbody.replaceChildren(fragment);
    this.dirty.clear();
    this.updateCount();
  }

  /** Mark a row changed; changes are drawn together once per animation frame. */
  changed(orderId) {
    this.dirty.add(orderId);
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = null;
    for (const orderId of this.dirty) this.place(orderId);
    this.dirty.clear();
    while (this.tbody.rows.length > MAX_ORDERS) this.drop(this.tbody.lastElementChild);
    this.updateCount();
  }

  place(orderId) {
    const row = this.book.orders.get(orderId);
    const tr = this.rows.get(orderId);
    if (!row || !this.matches(row)) {
      if (tr) this.drop(tr);
      return;
    }
    if (tr) {
      this.fill(tr, row);
      return;
    }
    const fresh = this.build(row);
    this.rows.set(orderId, fresh);
    let before = this.tbody.firstElementChild;
    while (before && Number(before.dataset.created) > row.createdMs) {
      before = before.nextElementSibling;
    }
    this.tbody.insertBefore(fresh, before);
  }

  drop(tr) {
    this.rows.delete(tr.dataset.orderId);
    tr.remove();
  }

  build(row) {
    const tr = h("tr", { dataset: { orderId: row.orderId, created: row.createdMs } },
      h("td", { text: clock(row.createdMs) }),
      h("td", {}, h("a", { href: `#/orders/${row.orderId}`, title: row.orderId,
        "aria-label": `order ${row.orderId}`, text: shortId(row.orderId) })),
      h("td", { text: row.type }),
      h("td", { text: `${row.tokenIn} → ${row.tokenOut}` }),
      h("td", { class: "num", text: short(row.amountIn) }),
      h("td", { class: "status-cell" }),
      h("td", { class: "dex" }),
      h("td", { class: "num price" }),
      h("td", { class: "num out" }),
      this.showAccount ? h("td", { class: "account", text: shortId(row.accountId) }) : null,
      h("td", { class: "actions" }));
    this.fill(tr, row);
    return tr;
  }

  fill(tr, row) {
    const cells = tr.cells;
    if (cells[5].dataset.status !== row.status) {
      cells[5].dataset.status = row.status;
      cells[5].replaceChildren(statusBadge(row.status));
      const actions = tr.lastElementChild;
      actions.replaceChildren();
      if (CANCELLABLE.has(row.status) && row.type !== "market") {
        actions.append(h("button", { type: "button", class: "small",
          "aria-label": `cancel order ${row.orderId}`,
          onclick: () => this.onCancel(row.orderId), text: "Cancel" }));
      }
    }
    cells[6].textContent = row.dex ?? "";
    cells[7].textContent = short(row.executedPrice);
    cells[8].textContent = short(row.amountOut);
  }

  updateCount() {
    const total = this.book.orders.size;
    this.count.textContent = `${this.tbody.rows.length} shown of ${total} orders kept (newest ${MAX_ORDERS})`;
  }
}
