// The queue panel (GET /api/queue) and, for admins, the launch panel (POST /api/admin/launch).

import { api } from "./api.js";
import { clear, clock, h } from "./util.js";

export class QueuePanel {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      await this.refresh();
      this.timer = setTimeout(tick, 2000);
    };
    tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  async refresh() {
    try {
      const q = await api("/api/queue");
      const limit = q.rateLimit.max
        ? `${q.rateLimit.startedInWindow} of ${q.rateLimit.max} per ${q.rateLimit.windowS} s${q.rateLimit.limited ? " — LIMITED, orders wait" : ""}`
        : "no limit";
      const facts = [
        ["Queued (waiting, delayed, active)", q.depth ?? "unknown"],
        ["In flight", String(q.inFlight)],
        ["Live workers", `${q.workers ?? "unknown"} × ${q.concurrency} at once`],
        ["Rate limit", limit],
        ["Throughput", `${q.finishedLastMinute} orders finished in the last minute`],
      ];
      this.root.replaceChildren(h("dl", { class: "facts" },
        facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })])),
        h("p", { class: "note", text: `as of ${clock(Date.now())}` }));
    } catch (err) {
      this.root.replaceChildren(h("p", { class: "error", text: `Queue unknown: ${err.message}` }));
    }
  }
}

export function setupLaunch(form, list) {
  const result = form.querySelector("[role=status]");
  const refresh = async () => {
    try {
      const { launches } = await api("/api/admin/launches");
      clear(list).append(...launches.map((l) => h("li",
        { text: `${l.symbol} on ${l.venue} at ${l.price} ${l.quote} (${clock(l.tsMs)})` })));
    } catch (err) {
      list.replaceChildren(h("li", { text: err.message }));
    }
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (name) => form.elements[name].value.trim();
    try {
      const launched = await api("/api/admin/launch", { method: "POST", body: {
        symbol: v("symbol").toUpperCase(), venue: v("venue"), price: v("price"), quote: v("quote"),
        depthUsd: v("depthUsd") || undefined,
      } });
      result.textContent = `Launched ${launched.symbol} on ${launched.venue}.`;
      refresh();
    } catch (err) {
      result.textContent = `Refused: ${err.message}`;
    }
  });
  refresh();
}
