"""Orders this process just stored, handed to its own executor: a job's first run then
does not read back the order its API wrote a moment ago (embedded mode, `serve`)."""

from __future__ import annotations

from dataclasses import replace

from order_engine.domain.orders import Order

MAX_HANDED = 10_000  # orders waiting for their first run here at most (oldest dropped)


class JustCreated:
    """Orders put by `OrderService` after they were stored and queued, taken (once) by the
    `OrderExecutor` that runs their first job in this process. A job run elsewhere, or after
    the order was dropped from here, reads the store. A copy that went stale (a cancel in
    between) is safe: the store's optimistic seq check turns the first transition into a
    race, which the executor settles by reading the order."""

    def __init__(self, limit: int = MAX_HANDED) -> None:
        self._orders: dict[str, Order] = {}
        self._limit = max(1, limit)

    def put(self, order: Order) -> None:
        """Keep a copy of `order` (the caller's own may still be read, e.g. to answer the
        request, while the executor moves this one on)."""
        if len(self._orders) >= self._limit:
            self._orders.pop(next(iter(self._orders)))
        copy = replace(order, attempt_errors=list(order.attempt_errors), legs=list(order.legs))
        self._orders[order.id] = copy

    def take(self, order_id: str) -> Order | None:
        return self._orders.pop(order_id, None)

    def __len__(self) -> int:
        return len(self._orders)
