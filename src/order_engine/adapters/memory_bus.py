"""In-process `EventBus` (embedded mode and test fake): fan-out to per-subscriber inboxes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from order_engine.adapters.inbox import Inbox
from order_engine.domain.orders import OrderEvent


class _Subscription(Inbox):
    """One subscriber: the events after `after` that were published since it joined."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self._after = after

    def offer(self, event: OrderEvent) -> None:
        if not self._ended and event.seq > self._after:
            self.push(event)


class InMemoryEventBus:
    """`EventBus` within one process. `publish` never blocks; a subscription exists only
    inside its context manager, and the bus keeps nothing for an order nobody watches."""

    def __init__(self) -> None:
        self._subs: dict[str, set[_Subscription]] = {}
        self._closed = False

    async def publish(self, event: OrderEvent) -> None:
        for sub in self._subs.get(event.order_id, ()):
            sub.offer(event)

    @asynccontextmanager
    async def subscribe(
        self, order_id: str, after: int = 0
    ) -> AsyncIterator[AsyncIterator[OrderEvent]]:
        sub = _Subscription(after)
        if self._closed:
            sub.end()
        else:
            self._subs.setdefault(order_id, set()).add(sub)
        try:
            yield sub
        finally:
            sub.end()
            self._remove(order_id, sub)

    def subscriber_count(self, order_id: str) -> int:
        return len(self._subs.get(order_id, ()))

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        """End every subscriber's iteration; later subscriptions end at once."""
        self._closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.end()
        self._subs.clear()

    def _remove(self, order_id: str, sub: _Subscription) -> None:
        subs = self._subs.get(order_id)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[order_id]
