"""`EventBus` on Redis Streams: every event goes to one capped stream of all orders' events
(`PREFIX:events-feed`, about `feed_length` entries, expiring `feed_ttl_s` after the last
append), each entry carrying its order id in a field of its own; its ids are the ids of
`subscribe_all`'s feed. The database holds every event (the record); the bus carries live
ones.

A process follows the feed with one reader task: a single XREAD BLOCK of that one key on
one dedicated connection, fanned out to per-subscriber inboxes by order id. So a process
with N subscribers holds one blocked connection, not N, and a new subscription costs no
round trip once the reader runs (the first one reads the feed's last id to start from).
An order's subscription gets the events published from then on (`order_stream` reads the
older ones from the store, or from `recent()`: the reader keeps every order's events a
short while, `RecentEvents`, so a stream opened just after its order was made reads
nothing); entries are filtered by feed id (never twice) and seq (in order).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from order_engine.adapters.feed_inbox import FeedInbox, parse_feed_id
from order_engine.adapters.recent_events import RecentEvents
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_publish import FeedAppender
from order_engine.adapters.redis_streams import (
    REPLAY_PAGE,
    Entry,
    FeedReader,
    StreamId,
    Subscription,
    decode_entry,
    format_id,
    parse_id,
)
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import OrderEvent, OrderStatus
from order_engine.engine.ports import LiveEvents

T = TypeVar("T")
_BASE_KEYS = ("orderId", "seq", "status", "tsMs", "attempt")


def encode_event(event: OrderEvent) -> bytes:
    return orjson.dumps(event.as_dict())


def decode_event(payload: bytes | str) -> OrderEvent:
    """The inverse of `encode_event`; raises ValueError/KeyError on a malformed payload."""
    body: dict[str, Any] = orjson.loads(payload)
    return OrderEvent(
        order_id=str(body["orderId"]),
        seq=int(body["seq"]),
        status=OrderStatus(body["status"]),
        ts_ms=int(body["tsMs"]),
        attempt=int(body["attempt"]),
        data={k: v for k, v in body.items() if k not in _BASE_KEYS},
    )


MAX_IN_FLIGHT = 32  # Redis calls at once per bus: well under redis-py's pool of 100
DEFAULT_FEED_LENGTH = 10_000


class RedisEventBus:
    """`EventBus` shared by every process that talks to the same Redis."""

    def __init__(
        self,
        client_or_url: Redis | str,
        *,
        prefix: str = "oe",
        feed_ttl_s: int = 3600,
        feed_length: int = DEFAULT_FEED_LENGTH,
        recent: RecentEvents | None = None,
    ) -> None:
        """`recent`: the events kept for streams opened soon after their order was made
        (`RecentEvents`; by default its defaults)."""
        self._owns_client = isinstance(client_or_url, str)
        self._client: Redis = (
            redis_client(client_or_url) if isinstance(client_or_url, str) else client_or_url
        )
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._feed_key = f"{prefix}:events-feed"
        self._appender = FeedAppender(
            self._client,
            self._publish_guard,
            self._feed_key,
            maxlen=max(1, feed_length),
            ttl_s=feed_ttl_s,
        )
        self._recent = RecentEvents() if recent is None else recent
        kept = self._recent if self._recent.enabled else None  # else: skip unwatched entries
        self._reader = FeedReader(self._client, self._feed_key, decode_event, kept)
        self._starting: asyncio.Lock = asyncio.Lock()
        self._closed = False

    async def publish(self, event: OrderEvent) -> None:
        """XADD to the feed (trimmed to about `feed_length`) and refresh its TTL,
        atomically, in one call with the other publishes made meanwhile. A retried publish
        may add the event twice; subscribers drop the copy by seq."""
        if self._reader.running:  # it reads every entry from now on: the rest comes from it
            self._recent.add(event, first_only=True)
        await self._appender.append(event.order_id, encode_event(event))

    @asynccontextmanager
    async def subscribe(self, order_id: str, after: int = 0) -> AsyncIterator[LiveEvents]:
        """The events of `order_id` with seq > `after` published from now on; in order,
        once each."""
        sub = Subscription(after)
        if not self._closed:
            await self._running_reader()
        if self._closed:  # also when close() ran while the reader started
            sub.end()
            yield sub
            return
        self._reader.add_order(order_id, sub)  # the reader's entries from now on, and
        sub.replay = self._recent.after(order_id, after)  # what it handed out before
        try:
            yield sub
        finally:
            sub.end()
            self._reader.remove_order(order_id, sub)

    @asynccontextmanager
    async def subscribe_all(self, after: str | None = None) -> AsyncIterator[FeedInbox]:
        """The feed from now on (after its last id), or replayed after feed id `after`
        (ValueError when malformed), then live from the bus's reader."""
        start = (0, 0) if after is None else parse_feed_id(after)
        sub, replay = FeedInbox(start), []
        if not self._closed:
            info = await self._feed_info()
            if after is None:
                start = info[0]
                sub = FeedInbox(start)
            else:
                sub = FeedInbox(start, gap=info[1] and start < info[2])
                replay = await self._range(start, None)
            await self._running_reader(info[0])
        if self._closed:
            sub.end()
            yield sub
            return
        sub.offer_all(replay)  # before the reader may deliver anything newer
        replayed_to = replay[-1][0] if replay else start
        covered_from = self._reader.add_feed(sub)
        try:
            if covered_from > replayed_to:  # the reader is past the replay: catch up
                sub.hold()
                sub.release(await self._range(replayed_to, covered_from))
            yield sub
        finally:
            sub.end()
            self._reader.remove_feed(sub)

    async def _running_reader(self, last_id: StreamId | None = None) -> None:
        """Start the reader (once) after the feed's last id: `last_id` when the caller
        just read it, else read here."""
        if self._reader.running:
            return
        async with self._starting:
            if not self._reader.running:
                if last_id is None:
                    last_id = (await self._feed_info())[0]
                self._reader.run_from(last_id)

    async def _feed_info(self) -> tuple[StreamId, bool, StreamId]:
        """The feed's last id, whether any entry was trimmed off it (no feed at all: as
        if so, since one existed before Redis lost it), and its first retained id."""
        try:
            info: Any = await self._call(
                "reading the event feed", partial(self._client.xinfo_stream, self._feed_key)
            )
        except DependencyUnavailableError as exc:
            if isinstance(exc.__cause__, ResponseError):  # no such key
                return (0, 0), True, (0, 0)
            raise
        first = info.get("recorded-first-entry-id") or b"0-0"
        trimmed = int(info["entries-added"]) > int(info["length"])
        return parse_id(info["last-generated-id"]), trimmed, parse_id(first)

    def subscriber_count(self, order_id: str) -> int:
        """Live subscriptions to `order_id` in this process."""
        return self._reader.subscriber_count(order_id)

    async def ping(self) -> None:
        await self._call("ping", self._client.ping)

    async def close(self) -> None:
        """End every subscriber's iteration; later subscriptions end at once."""
        self._closed = True
        await self._appender.close()
        await self._reader.close()
        if self._owns_client:
            await self._client.aclose()

    async def _range(self, after: StreamId, until: StreamId | None) -> list[Entry]:
        """The feed's entries with `after` < id <= `until` (None: to the end), paged."""
        entries: list[Entry] = []
        high = "+" if until is None else format_id(until)
        low = "(" + format_id(after)
        while True:
            page: Any = await self._call(
                "reading events",
                partial(self._client.xrange, self._feed_key, min=low, max=high, count=REPLAY_PAGE),
            )
            entries.extend(decode_entry(raw_id, fields, decode_event) for raw_id, fields in page)
            if len(page) < REPLAY_PAGE:
                return entries
            low = "(" + format_id(entries[-1][0])

    async def _publish_guard(self, send: Callable[[], Awaitable[Any]]) -> Any:
        return await self._call("publishing an event", send)

    async def _call(self, action: str, operation: Callable[[], Awaitable[T]]) -> T:
        """One Redis call under the bus's in-flight limit, retried once on a dropped
        connection (pooled connections go stale when Redis restarts); driver errors become
        `DependencyUnavailableError` without the driver's text."""
        async with self._gate:
            try:
                try:
                    return await operation()
                except RedisConnectionError:
                    return await operation()
            except (RedisError, OSError) as exc:
                raise DependencyUnavailableError(f"Redis is unavailable ({action})") from exc
