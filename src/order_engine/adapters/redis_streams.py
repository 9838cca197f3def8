"""The Redis Streams machinery behind `RedisEventBus`: subscriber inboxes and the one reader
task per bus that multiplexes every watched stream over a single blocking XREAD."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.feed_inbox import Entry, StreamId, StreamInbox, format_id
from order_engine.domain.orders import OrderEvent

log = logging.getLogger(__name__)

__all__ = ["Entry", "StreamId", "format_id"]
Decoder = Callable[[bytes], OrderEvent]

REPLAY_PAGE = 1000  # entries per XRANGE page
READ_COUNT = 1000  # entries per stream per XREAD
BLOCK_MS = 10_000  # well under the client's socket timeout
RETRY_MIN_S, RETRY_MAX_S = 0.05, 1.0
WAKE_MAXLEN = 16
STOP_GRACE_S = 0.05


def parse_id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Subscription(StreamInbox[OrderEvent]):
    """One order subscriber's inbox: entries past the last stream id accepted (never twice)
    whose seq is past the last one yielded (in order, > `after`)."""

    __slots__ = ("_last_seq",)

    def __init__(self, after: int) -> None:
        super().__init__((0, 0))
        self._last_seq = after

    def _take(self, entry_id: StreamId, event: OrderEvent) -> None:
        if event.seq > self._last_seq:
            self._last_seq = event.seq
            self.push(event)


class Reader(Protocol):
    """What the reader hands a stream's entries to: an order's `Subscription`, or a
    subscriber of the feed of every order's events (`FeedInbox`)."""

    def offer(self, entry: Entry) -> None: ...

    def end(self) -> None: ...


@dataclass
class _Watched:
    cursor: StreamId
    subs: set[Reader] = field(default_factory=set)


def decode_entry(raw_id: bytes | str, fields: dict[Any, Any], decode: Decoder) -> Entry:
    """One XRANGE/XREAD entry; the event is None when its payload is malformed."""
    entry_id = parse_id(raw_id)
    try:
        return entry_id, decode(fields.get(b"data") or fields["data"])
    except (KeyError, ValueError, TypeError):
        log.warning("skipping a malformed event-stream entry %s", format_id(entry_id))
        return entry_id, None


def _reply_streams(reply: Any) -> list[tuple[str, list[Any]]]:
    """XREAD's reply as (key, entries) pairs, for RESP2 (list) and RESP3 (dict) alike."""
    if isinstance(reply, dict):
        pairs = [(key, value[0] if value else []) for key, value in reply.items()]
    else:
        pairs = [(key, value) for key, value in reply or []]
    return [(k.decode() if isinstance(k, bytes) else str(k), v) for k, v in pairs]


class StreamReader:
    """One task, one dedicated connection: XREAD BLOCK over every watched stream plus a
    private wake stream (written when a new stream is watched, so the blocked read restarts
    with it). Survives Redis outages by retrying with backoff from the last ids seen."""

    def __init__(self, client: Redis, wake_key: str, decode: Decoder, wake_ttl_s: int) -> None:
        self._client = client
        self._conn = client.client()  # a single dedicated connection from the pool
        self._wake_key, self._wake_id, self._wake_ttl_s = wake_key, (0, 0), wake_ttl_s
        self._wake_pending = False
        self._decode = decode
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add(self, key: str, sub: Reader, replayed_to: StreamId) -> tuple[StreamId, bool]:
        """Watch `key` for `sub`, whose replay reached `replayed_to`. Returns the id after
        which the reader delivers to `sub`, and whether `key` is newly watched."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-event-bus-reader")
        watched = self._watched.get(key)
        is_new = watched is None
        if watched is None:
            watched = self._watched[key] = _Watched(replayed_to)
        watched.subs.add(sub)
        return watched.cursor, is_new

    def remove(self, key: str, sub: Reader) -> None:
        watched = self._watched.get(key)
        if watched is not None:
            watched.subs.discard(sub)
            if not watched.subs:
                del self._watched[key]

    def subscriber_count(self, key: str) -> int:
        watched = self._watched.get(key)
        return 0 if watched is None else len(watched.subs)

    async def wake(self) -> None:
        """Make the blocked read restart with the current set of streams (coalesced)."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": b"1"}, maxlen=WAKE_MAXLEN)
                pipe.expire(self._wake_key, self._wake_ttl_s)
                await pipe.execute()
        except BaseException:
            self._wake_pending = False
            raise

    async def close(self) -> None:
        self._stopping = True
        for watched in self._watched.values():
            for sub in watched.subs:
                sub.end()
        self._watched.clear()
        if self._task is not None:
            await self._stop(self._task)
        with contextlib.suppress(RedisError, OSError):
            await self._client.delete(self._wake_key)
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
                reply = await self._read()
            except Exception as exc:
                if self._stopping:
                    return
                level = logging.WARNING if isinstance(exc, RedisError | OSError) else logging.ERROR
                log.log(level, "event-bus reader: read failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_MIN_S
            self._dispatch(reply)

    async def _read(self) -> Any:
        streams = {self._wake_key: format_id(self._wake_id)}
        streams.update((key, format_id(w.cursor)) for key, w in self._watched.items())
        self._wake_pending = False  # any stream watched from now on needs a new wake
        return await self._conn.xread(streams, count=READ_COUNT, block=BLOCK_MS)  # type: ignore[arg-type]

    def _dispatch(self, reply: Any) -> None:
        for key, raw_entries in _reply_streams(reply):
            if key == self._wake_key:
                for raw_id, _fields in raw_entries:
                    self._wake_id = max(self._wake_id, parse_id(raw_id))
                continue
            watched = self._watched.get(key)
            if watched is None:
                continue  # unwatched while the read was in flight
            for raw_id, fields in raw_entries:
                entry = decode_entry(raw_id, fields, self._decode)
                watched.cursor = max(watched.cursor, entry[0])
                for sub in watched.subs:
                    sub.offer(entry)
