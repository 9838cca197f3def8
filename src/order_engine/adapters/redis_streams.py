"""The Redis Streams machinery behind `RedisEventBus`: the one reader task per bus that
follows the feed of every order's events over a single blocking XREAD of one key, and
hands each entry to the subscriptions of its order and to every feed subscriber."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.feed_inbox import Entry, StreamId, StreamInbox, format_id
from order_engine.adapters.recent_events import RecentEvents
from order_engine.domain.orders import OrderEvent

log = logging.getLogger(__name__)

__all__ = ["Entry", "StreamId", "format_id"]
Decoder = Callable[[bytes], OrderEvent]

REPLAY_PAGE = 1000  # entries per XRANGE page
READ_COUNT = 1000  # entries per XREAD
BLOCK_MS = 10_000  # well under the client's socket timeout
RETRY_MIN_S, RETRY_MAX_S = 0.05, 1.0
STOP_GRACE_S = 0.05


def parse_id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Subscription(StreamInbox[OrderEvent]):
    """One order subscriber's inbox: feed entries past the last one accepted (never
    twice) whose seq is past the last one yielded (in order, > `after`)."""

    __slots__ = ("_last_seq", "replay")

    def __init__(self, after: int) -> None:
        super().__init__((0, 0))
        self._last_seq = after
        self.replay: list[OrderEvent] | None = None  # what the bus saw before (`recent`)

    def recent(self) -> list[OrderEvent] | None:
        replay, self.replay = self.replay, None
        return replay

    def _take(self, entry_id: StreamId, event: OrderEvent) -> None:
        if event.seq > self._last_seq:
            self._last_seq = event.seq
            self.push(event)


class Reader(Protocol):
    """What the reader hands entries to: an order's `Subscription`, or a subscriber of the
    feed of every order's events (`FeedInbox`)."""

    def offer(self, entry: Entry) -> None: ...

    def end(self) -> None: ...


def decode_entry(raw_id: bytes | str, fields: dict[Any, Any], decode: Decoder) -> Entry:
    """One XRANGE/XREAD entry; the event is None when its payload is malformed."""
    entry_id = parse_id(raw_id)
    try:
        return entry_id, decode(fields.get(b"data") or fields["data"])
    except (KeyError, ValueError, TypeError):
        log.warning("skipping a malformed event-stream entry %s", format_id(entry_id))
        return entry_id, None


def _reply_entries(reply: Any) -> list[Any]:
    """XREAD's entries of its one stream, for RESP2 (list) and RESP3 (dict) alike."""
    if isinstance(reply, dict):
        return [entry for value in reply.values() if value for entry in value[0]]
    return [entry for _key, entries in reply or [] for entry in entries]


def _order_of(fields: dict[Any, Any]) -> str | None:
    raw = fields.get(b"o") or fields.get("o")
    return raw.decode() if isinstance(raw, bytes) else raw


class FeedReader:
    """One task, one dedicated connection: XREAD BLOCK on the feed from `cursor` on. An
    entry goes to the subscriptions of its order, to every feed subscriber and to `recent`
    (when given: entries nobody watches are otherwise skipped undecoded). Survives Redis
    outages by retrying with backoff from the last id seen. A reader that falls more than
    the feed's length behind misses what was trimmed: order streams catch up from the
    store (`StreamWatch`)."""

    def __init__(
        self, client: Redis, key: str, decode: Decoder, recent: RecentEvents | None = None
    ) -> None:
        self._conn = client.client()  # a single dedicated connection from the pool
        self._key, self._decode, self._recent = key, decode, recent
        self._orders: dict[str, set[Reader]] = {}
        self._feeds: set[Reader] = set()
        self._cursor: StreamId = (0, 0)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None

    def run_from(self, cursor: StreamId) -> None:
        """Start reading after `cursor` (once)."""
        if self._task is None and not self._stopping:
            self._cursor = cursor
            self._task = asyncio.create_task(self._run(), name="redis-event-bus-reader")

    def add_order(self, order_id: str, sub: Reader) -> None:
        self._orders.setdefault(order_id, set()).add(sub)

    def remove_order(self, order_id: str, sub: Reader) -> None:
        subs = self._orders.get(order_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._orders[order_id]

    def add_feed(self, sub: Reader) -> StreamId:
        """Returns the id after which the reader delivers to `sub`."""
        self._feeds.add(sub)
        return self._cursor

    def remove_feed(self, sub: Reader) -> None:
        self._feeds.discard(sub)

    def subscriber_count(self, order_id: str) -> int:
        return len(self._orders.get(order_id, ()))

    async def close(self) -> None:
        self._stopping = True
        for sub in [*self._feeds, *(s for subs in self._orders.values() for s in subs)]:
            sub.end()
        self._orders.clear()
        self._feeds.clear()
        if self._task is not None:
            await self._stop(self._task)
        await self._conn.aclose()

    async def _stop(self, task: asyncio.Task[None]) -> None:
        """Cancel the task. redis-py 8.1 can swallow a cancel that lands while it sets up a
        connection (the task then blocks in its next read): if so, drop the connection."""
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)
        if not done and self._conn.connection is not None:
            await self._conn.connection.disconnect(nowait=True)
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_GRACE_S)

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while not self._stopping:
            try:
                reply = await self._conn.xread(
                    {self._key: format_id(self._cursor)}, count=READ_COUNT, block=BLOCK_MS
                )
            except Exception as exc:
                if self._stopping:
                    return
                level = logging.WARNING if isinstance(exc, RedisError | OSError) else logging.ERROR
                log.log(level, "event-bus reader: read failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_MIN_S
            self._dispatch(_reply_entries(reply))

    def _dispatch(self, raw_entries: list[Any]) -> None:
        if not raw_entries:
            return
        for raw_id, fields in raw_entries:
            order_id = _order_of(fields)
            subs = self._orders.get(order_id) if order_id is not None else None
            if not subs and not self._feeds and order_id is not None and self._recent is None:
                continue  # nobody here watches it
            entry = decode_entry(raw_id, fields, self._decode)
            if entry[1] is not None:
                if self._recent is not None:
                    self._recent.add(entry[1])
                if order_id is None:  # appended without its order id
                    subs = self._orders.get(entry[1].order_id)
            for sub in subs or ():
                sub.offer(entry)
            for sub in self._feeds:
                sub.offer(entry)
        self._cursor = max(self._cursor, parse_id(raw_entries[-1][0]))
