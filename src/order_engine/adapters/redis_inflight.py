"""`RedisInFlightBoard`: the processes' swaps in flight, shared through one Redis hash.

The hash `{prefix}:inflight` holds one field per process (a random id): a JSON object
`{"at": ms, "totals": {"meteora SOL>USDC": "12.5", ...}}`. A process writes its own field
when its totals change (an empty one is deleted), at most one write on its way and at
least `min_interval_s` apart: changes made meanwhile go out together, the latest wins.
It reads every field at most `max_age_s` after the last read, when a pool is priced; a
field whose `at` is over `stale_s` old is skipped. While a process has totals it writes
them again every `stale_s / 3` even if they did not change (a swap may wait for its chain
far longer than `stale_s`), so only a process that stopped without clearing its field
goes stale. Writes refresh the hash's TTL (at most every 10 s), so a deployment that stops
leaves nothing behind for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Mapping
from decimal import Decimal, InvalidOperation
from typing import cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.redis_client import redis_client
from order_engine.venues.chain.inflight_board import DONE, Direction, with_venue

log = logging.getLogger(__name__)
KEY_TTL_MS = 60_000
TTL_REFRESH_S = 10.0
RETRY_S = 0.5  # between writes while Redis does not answer


class RedisInFlightBoard:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "oe",
        max_age_s: float = 0.025,
        min_interval_s: float = 0.025,
        stale_s: float = 10.0,
        timeout_s: float = 0.5,
    ) -> None:
        self._client: Redis = redis_client(url, decode_responses=True)
        self._key, self._id = f"{prefix}:inflight", uuid.uuid4().hex
        self._max_age_s, self._min_interval_s = max_age_s, min_interval_s
        self._stale_ms, self._timeout_s = round(stale_s * 1000), timeout_s
        self._refresh_s = stale_s / 3  # unchanged totals are written again this often
        self._changed = asyncio.Event()  # wakes a writer waiting to refresh
        self._mine: dict[str, Decimal] = {}
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._read_at = float("-inf")  # loop time of the last read's start
        self._others: dict[str, Decimal] = {}
        self._ttl_due = 0.0  # monotonic time of the hash's next TTL refresh
        self._closed = False

    # ---- this process's totals --------------------------------------------------------
    def publish(self, venue: str, totals: Mapping[Direction, Decimal]) -> None:
        if self._closed:  # a swap that ends during the stop: its field is cleared already
            return
        mine = with_venue(self._mine, venue, totals)
        if mine == self._mine:
            return
        self._mine, self._dirty = mine, True
        self._changed.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Until what is published is the latest: a failed write is tried again (after
        `RETRY_S`), or the others would count totals this process no longer has. While
        there are totals, they are written again every `_refresh_s` (kept fresh)."""
        while self._dirty or await self._refresh_due():
            self._dirty, mine = False, self._mine  # replaced, never changed, by `publish`
            started, pause = time.monotonic(), self._min_interval_s
            try:
                await asyncio.wait_for(self._send(mine), self._timeout_s)
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("in-flight board: write failed (%s); trying again", exc)
                self._dirty, pause = True, max(pause, RETRY_S)
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))

    async def _refresh_due(self) -> bool:
        """Wait until the totals change or are due to be written again; False when there
        are none left to keep fresh (the writer then ends)."""
        if not self._mine:
            return False
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), self._refresh_s)
        return bool(self._mine) or self._dirty

    async def _send(self, mine: dict[str, Decimal]) -> None:
        """One command (a pipeline costs more client CPU than the write); the hash's TTL
        is refreshed with it at most every `TTL_REFRESH_S`."""
        if not mine:
            await self._client.hdel(self._key, self._id)
            return
        totals = {key: str(amount) for key, amount in mine.items()}
        entry = orjson.dumps({"at": round(time.time() * 1000), "totals": totals}).decode()
        await self._client.hset(self._key, self._id, entry)
        if time.monotonic() >= self._ttl_due:
            self._ttl_due = time.monotonic() + TTL_REFRESH_S
            await self._client.pexpire(self._key, KEY_TTL_MS)

    # ---- the others' ------------------------------------------------------------------
    def fresh(self) -> Awaitable[None]:
        """The read under way, shielded: a waiter given up on (a quote's timeout) does not
        cancel it for the others waiting."""
        if self._reader is not None and not self._reader.done():
            return asyncio.shield(self._reader)
        loop = asyncio.get_running_loop()
        if loop.time() - self._read_at <= self._max_age_s:
            return DONE
        self._read_at = loop.time()
        self._reader = loop.create_task(self._read())
        return asyncio.shield(self._reader)

    def others(self, key: str) -> Decimal:
        return self._others.get(key, Decimal(0))

    async def _read(self) -> None:
        try:
            fields = await asyncio.wait_for(self._client.hgetall(self._key), self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("in-flight board: read failed (%s); counting nobody else", exc)
            self._others = {}
            return
        self._others = self._sum(cast(dict[str, str], fields))  # decode_responses

    def _sum(self, fields: Mapping[str, str]) -> dict[str, Decimal]:
        oldest = round(time.time() * 1000) - self._stale_ms
        others: dict[str, Decimal] = {}
        for process, raw in fields.items():
            if process == self._id:
                continue
            try:
                entry = orjson.loads(raw)
                if int(entry["at"]) < oldest:
                    continue
                for key, amount in entry["totals"].items():
                    others[key] = others.get(key, Decimal(0)) + Decimal(amount)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidOperation):
                log.debug("in-flight board: skipped a field it cannot read (%s)", process)
        return others

    async def close(self) -> None:
        self._closed = True
        for task in (self._writer, self._reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._client.hdel(self._key, self._id), self._timeout_s)
        await self._client.aclose()
