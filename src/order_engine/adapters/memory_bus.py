"""In-process `EventBus` (embedded mode and test fake): fan-out to per-subscriber inboxes,
and the feed of every order's events with a bounded history."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from order_engine.adapters.feed_inbox import Entry, FeedInbox, StreamId, parse_feed_id
from order_engine.adapters.inbox import Inbox
from order_engine.adapters.recent_events import RecentEvents
from order_engine.domain.orders import OrderEvent
from order_engine.engine.ports import LiveEvents

DEFAULT_FEED_LENGTH = 10_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class _Subscription(Inbox[OrderEvent]):
    """One subscriber: the events after `after` that were published since it joined. Its
    own context manager (no generator-based one per stream: thousands sit idle)."""

    __slots__ = ("_after", "_bus", "_order_id", "_recent")

    def __init__(self, bus: InMemoryEventBus, order_id: str, after: int) -> None:
        super().__init__()
        self._bus, self._order_id, self._after = bus, order_id, after
        self._recent: list[OrderEvent] | None = None

    def recent(self) -> list[OrderEvent] | None:
        recent, self._recent = self._recent, None
        return recent

    def offer(self, event: OrderEvent) -> None:
        if not self._ended and event.seq > self._after:
            self.push(event)

    async def __aenter__(self) -> LiveEvents:
        self._bus._add(self._order_id, self)  # what is published from now on comes here;
        self._recent = self._bus._recent.after(self._order_id, self._after)  # before: this
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.end()
        self._bus._remove(self._order_id, self)


class InMemoryEventBus:
    """`EventBus` within one process. `publish` never blocks; a subscription exists only
    inside its context manager, and the bus keeps nothing for an order nobody watches. The
    feed keeps the newest `feed_length` entries; its ids are `"<wall ms>-<n>"`, so ids of a
    bus made after a restart sort after the previous one's, and resuming from an id of an
    earlier bus reports a gap (what that bus published last is not here)."""

    def __init__(
        self,
        *,
        feed_length: int = DEFAULT_FEED_LENGTH,
        clock_ms: Callable[[], int] = _wall_ms,
        recent: RecentEvents | None = None,
    ) -> None:
        """`recent`: the events kept for streams opened soon after their order was made
        (`RecentEvents`; by default its defaults)."""
        # an order's subscribers: a list, as there is mostly one (a set costs 0.2 KiB)
        self._subs: dict[str, list[_Subscription]] = {}
        self._closed = False
        self._clock_ms = clock_ms
        self._feed: deque[Entry] = deque(maxlen=max(1, feed_length))
        self._feed_subs: set[FeedInbox] = set()
        self._born: StreamId = (clock_ms(), 0)  # ids before this are an earlier bus's
        self._last_id: StreamId = (self._born[0], -1)
        self._dropped: StreamId | None = None  # the newest id the history let go
        self._recent = RecentEvents() if recent is None else recent

    async def publish(self, event: OrderEvent) -> None:
        self._recent.add(event)
        for sub in self._subs.get(event.order_id, ()):
            sub.offer(event)
        entry = (self._next_id(), event)
        if len(self._feed) == self._feed.maxlen:
            self._dropped = self._feed[0][0]
        self._feed.append(entry)
        for feed_sub in self._feed_subs:
            feed_sub.offer(entry)

    def _next_id(self) -> StreamId:
        ms, n = self._last_id
        now = self._clock_ms()
        self._last_id = (now, 0) if now > ms else (ms, n + 1)
        return self._last_id

    @asynccontextmanager
    async def subscribe_all(self, after: str | None = None) -> AsyncIterator[FeedInbox]:
        """The feed from now on, or after feed id `after` (ValueError when malformed)."""
        if after is None:
            sub = FeedInbox(self._last_id)
        else:
            start = parse_feed_id(after)
            lost = start < self._born or (self._dropped is not None and start < self._dropped)
            sub = FeedInbox(start, gap=lost)
            sub.offer_all(self._feed)
        if self._closed:
            sub.end()
        else:
            self._feed_subs.add(sub)
        try:
            yield sub
        finally:
            sub.end()
            self._feed_subs.discard(sub)

    def subscribe(self, order_id: str, after: int = 0) -> AbstractAsyncContextManager[LiveEvents]:
        return _Subscription(self, order_id, after)

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
        for feed_sub in self._feed_subs:
            feed_sub.end()
        self._feed_subs.clear()

    def _add(self, order_id: str, sub: _Subscription) -> None:
        if self._closed:
            sub.end()
            return
        self._subs.setdefault(order_id, []).append(sub)

    def _remove(self, order_id: str, sub: _Subscription) -> None:
        subs = self._subs.get(order_id, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(order_id, None)
