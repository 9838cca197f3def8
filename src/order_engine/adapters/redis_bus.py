"""`EventBus` on Redis Streams: one stream per order, bounded (MAXLEN ~) and expiring (TTL
refreshed on every publish; once the order's terminal event is published, a short one: the
database holds the record, and the stream only has to outlive the subscribers reading it).
Every event also goes to one capped stream of all orders' events (`PREFIX:events-feed`,
about `feed_length` entries, in the same Lua call as the order's, its TTL refreshed like
an unfinished order's), the feed of `subscribe_all`, whose ids are the stream's.

A subscriber replays the stream with XRANGE, then receives live entries from the bus's one
reader task: a single XREAD BLOCK over every watched stream on one dedicated connection,
fanned out to per-subscriber inboxes. So a process with N subscribers holds one blocked
connection, not N. Entries are filtered by stream id (never twice) and seq (in order).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from order_engine.adapters.feed_inbox import FeedInbox, parse_feed_id
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_publish import StreamAppender
from order_engine.adapters.redis_streams import (
    REPLAY_PAGE,
    Entry,
    StreamId,
    StreamReader,
    Subscription,
    decode_entry,
    format_id,
    parse_id,
)
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import TERMINAL, OrderEvent, OrderStatus
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
        stream_ttl_s: int = 3600,
        finished_ttl_s: int = 60,
        maxlen: int = 1000,
        feed_length: int = DEFAULT_FEED_LENGTH,
    ) -> None:
        self._owns_client = isinstance(client_or_url, str)
        self._client: Redis = (
            redis_client(client_or_url) if isinstance(client_or_url, str) else client_or_url
        )
        self._prefix, self._ttl_s, self._maxlen = prefix, stream_ttl_s, maxlen
        self._finished_ttl_s = finished_ttl_s
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._feed_key = f"{prefix}:events-feed"
        self._appender = StreamAppender(
            self._client,
            self._publish_guard,
            maxlen=maxlen,
            ttl_s=stream_ttl_s,
            feed=(self._feed_key, max(1, feed_length), stream_ttl_s),
        )
        self._reader: StreamReader | None = None
        self._closed = False

    def stream_key(self, order_id: str) -> str:
        return f"{self._prefix}:events:{order_id}"

    async def publish(self, event: OrderEvent) -> None:
        """XADD (trimmed to about `maxlen`) and refresh the TTL (after a terminal event:
        `finished_ttl_s`), atomically. A retried publish may add the event twice;
        subscribers drop the copy by seq."""
        ttl_s = self._finished_ttl_s if event.status in TERMINAL else self._ttl_s
        await self._appender.append(self.stream_key(event.order_id), encode_event(event), ttl_s)

    @asynccontextmanager
    async def subscribe(self, order_id: str, after: int = 0) -> AsyncIterator[LiveEvents]:
        """Replay the stream (seq > `after`), then live events; in order, once each."""
        sub = Subscription(after)
        key = self.stream_key(order_id)
        replay = [] if self._closed else await self._range(key, None, None)
        if self._closed:  # also when close() ran during the replay
            sub.end()
            yield sub
            return
        sub.offer_all(replay)
        async with self._following(key, sub, replay[-1][0] if replay else (0, 0)):
            yield sub

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
                replay = await self._range(self._feed_key, start, None)
        if self._closed:
            sub.end()
            yield sub
            return
        sub.offer_all(replay)  # before the reader may deliver anything newer
        async with self._following(self._feed_key, sub, replay[-1][0] if replay else start):
            yield sub

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

    @asynccontextmanager
    async def _following(
        self, key: str, sub: Subscription | FeedInbox, replayed_to: StreamId
    ) -> AsyncIterator[None]:
        """`sub` gets `key`'s entries after `replayed_to` from the reader (the catch-up
        first, if the reader is already past it)."""
        reader = self._ensure_reader()
        covered_from, is_new = reader.add(key, sub, replayed_to)
        try:
            if covered_from > replayed_to:
                sub.hold()
                sub.release(await self._range(key, replayed_to, covered_from))
            if is_new:
                await self._call("subscribing to events", reader.wake)
            yield
        finally:
            sub.end()
            reader.remove(key, sub)

    def subscriber_count(self, order_id: str) -> int:
        """Live subscriptions to `order_id` in this process."""
        reader = self._reader
        return 0 if reader is None else reader.subscriber_count(self.stream_key(order_id))

    async def ping(self) -> None:
        await self._call("ping", self._client.ping)

    async def close(self) -> None:
        """End every subscriber's iteration; later subscriptions end at once."""
        self._closed = True
        await self._appender.close()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._owns_client:
            await self._client.aclose()

    def _ensure_reader(self) -> StreamReader:
        if self._reader is None:
            wake_key = f"{self._prefix}:bus-wake:{uuid.uuid4().hex}"
            self._reader = StreamReader(self._client, wake_key, decode_event, self._ttl_s)
        return self._reader

    async def _range(self, key: str, after: StreamId | None, until: StreamId | None) -> list[Entry]:
        """Entries with `after` < id <= `until` (None: the whole side), paged."""
        entries: list[Entry] = []
        high = "+" if until is None else format_id(until)
        low = "-" if after is None else "(" + format_id(after)
        while True:
            page: Any = await self._call(
                "reading events",
                partial(self._client.xrange, key, min=low, max=high, count=REPLAY_PAGE),
            )
            entries.extend(decode_entry(raw_id, fields, decode_event) for raw_id, fields in page)
            if len(page) < REPLAY_PAGE:
                return entries
            low = "(" + format_id(entries[-1][0])

    async def _publish_guard(self, send: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
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
