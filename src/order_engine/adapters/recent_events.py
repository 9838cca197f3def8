"""The events a process's bus saw lately, per order, so that a stream opened soon after its
order was made (a client POSTs, then opens the order's WebSocket) replays them from
memory instead of reading the store.

An order's history here counts only while it is whole: its events from seq 1 on with no
seq missing. A stream opened on it replays that history and takes the rest live; an event
published before the stream opened but not seen here yet (another process's, still on its
way) arrives live; one whose publish was lost is found by the stream watch, as for any
live event. Anything else (an order first seen after seq 1, a hole, an order older than
`keep_s` or pushed out by `max_orders` newer ones) is not answered: the stream reads the
store, as it always may.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from order_engine.domain.orders import OrderEvent

DEFAULT_MAX_ORDERS = 4_096
DEFAULT_KEEP_S = 10.0


class _History:
    __slots__ = ("born", "by_seq", "last")

    def __init__(self, born: float) -> None:
        self.born = born
        self.by_seq: dict[int, OrderEvent] = {}
        self.last = 0  # the highest seq seen

    def add(self, event: OrderEvent) -> None:
        """Once per seq (the feed brings back the events this process published itself)."""
        self.by_seq.setdefault(event.seq, event)
        self.last = max(self.last, event.seq)

    def whole(self) -> bool:
        """Seq 1 to `last`, none missing (seqs are positive and each kept once)."""
        return self.last == len(self.by_seq)


class RecentEvents:
    """Each order's events seen in the last `keep_s` seconds (counted from its first one
    seen), for at most `max_orders` orders (the oldest let go first)."""

    def __init__(
        self,
        *,
        max_orders: int = DEFAULT_MAX_ORDERS,
        keep_s: float = DEFAULT_KEEP_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._orders: OrderedDict[str, _History] = OrderedDict()
        self._max, self._keep_s, self._now = max(0, max_orders), keep_s, monotonic

    def add(self, event: OrderEvent, *, first_only: bool = False) -> None:
        """Keep `event`. `first_only`: begin an order's history only at its first event
        (seq 1; a worker's publishes, which never are, then cost nothing here)."""
        if not self.enabled:
            return
        history = self._orders.get(event.order_id)
        if history is None:
            if first_only and event.seq != 1:
                return
            now = self._now()
            self._let_go(now)
            history = self._orders[event.order_id] = _History(now)
        history.add(event)

    def after(self, order_id: str, after: int) -> list[OrderEvent] | None:
        """The order's events with seq > `after`, when its history here is whole and
        recent; None when this process cannot tell (read the store)."""
        history = self._orders.get(order_id)
        if history is None or not history.whole() or self._now() - history.born > self._keep_s:
            return None
        return [history.by_seq[seq] for seq in range(max(after, 0) + 1, history.last + 1)]

    @property
    def enabled(self) -> bool:
        return self._max > 0

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def _let_go(self, now: float) -> None:
        """Drop the orders past `keep_s`, and the oldest while one more would not fit."""
        while self._orders:
            oldest = next(iter(self._orders.values()))
            if len(self._orders) < self._max and now - oldest.born <= self._keep_s:
                return
            self._orders.popitem(last=False)
