"""`StreamWatch`: one watchdog for all of a process's open order streams.

A stream waits on its live subscription with no timeout, so an idle stream costs no CPU
and no timer. What the waiting alone would not cover is a publish that was lost (the event
committed, its fan-out failed, e.g. while Redis restarted): the stream would wait forever.
So every open stream is registered here with the last seq it delivered, and every
`period_s` the watch asks the store which orders were written since it last asked
(`OrderStore.changes`: a cursor, no clocks, every committed write seen) and compares only
the streams of those orders. A stream is also checked by id once, at its first sweep (it
may have read the store after the write the cursor passed). A stream whose order the
store has moved past what it delivered is nudged when it has been quiet for a period (it
wakes and re-reads the store, `order_stream`); one that delivered just now (its live
event may be on its way) is checked by id again at the next sweep. So an idle process
costs one small read per period however many streams are open, a busy one a read of what
changed, and a lost publish reaches its stream within about two periods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from order_engine.domain.errors import EngineError
from order_engine.engine.ports import OrderStore

log = logging.getLogger(__name__)


class Watched:
    """One open stream: its order, the last seq it delivered and when, and how to wake it;
    watched while inside it as a context manager (`StreamWatch.watching`). A small object,
    not a generator's frame: thousands of streams hold one each."""

    __slots__ = ("_watch", "nudge", "order_id", "quiet_since", "seq")

    def __init__(
        self, watch: StreamWatch, order_id: str, seq: int, nudge: Callable[[], None], now: float
    ) -> None:
        self.order_id, self.seq, self.nudge, self.quiet_since = order_id, seq, nudge, now
        self._watch = watch

    def __enter__(self) -> Watched:
        self._watch._add(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._watch._forget(self)


class StreamWatch:
    """The process's watchdog of open streams (see the module's docstring). Its task runs
    only while some stream is watched."""

    def __init__(
        self, store: OrderStore, period_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store, self._period_s, self._clock = store, period_s, clock
        self._by_order: dict[str, list[Watched]] = {}  # a list: mostly one stream an order
        self._count = 0
        self._by_id: set[Watched] = set()  # to check by id at the next sweep
        self._cursor: int | None = None  # the store's changes cursor (None: not asked yet)
        self._task: asyncio.Task[None] | None = None

    @property
    def period_s(self) -> float:
        return self._period_s

    def __len__(self) -> int:
        return self._count

    def watching(self, order_id: str, seq: int, nudge: Callable[[], None]) -> Watched:
        """Watch a stream of `order_id` that has delivered up to `seq` while inside the
        context manager returned; call `delivered` on it after each event it delivers."""
        return Watched(self, order_id, seq, nudge, self._clock())

    def _add(self, watched: Watched) -> None:
        self._by_order.setdefault(watched.order_id, []).append(watched)
        self._by_id.add(watched)
        self._count += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-watch")

    def _forget(self, watched: Watched) -> None:
        streams = self._by_order.get(watched.order_id, [])
        if watched in streams:
            streams.remove(watched)
        if not streams:
            self._by_order.pop(watched.order_id, None)
        self._by_id.discard(watched)
        self._count -= 1
        if not self._count and self._task is not None:
            self._task.cancel()
            self._task, self._cursor = None, None

    def delivered(self, watched: Watched, seq: int) -> None:
        watched.seq, watched.quiet_since = seq, self._clock()

    async def sweep(self) -> int:
        """One check (see the module's docstring): the streams of the orders written since
        the last sweep, and those due a check by id. Returns how many were nudged."""
        by_id, self._by_id = self._by_id, set()
        try:
            changes = await self._store.changes(self._cursor)
            latest = dict(changes.latest)
            unknown = {w.order_id for w in by_id} - latest.keys()
            if unknown:  # read after the changes: nothing between the two is missed
                latest.update(await self._store.latest_seqs(sorted(unknown)))
        except BaseException:  # to check again at the next sweep, those still open
            self._by_id |= {w for w in by_id if w in self._by_order.get(w.order_id, ())}
            raise
        self._cursor = changes.cursor
        checked = by_id.union(*(self._by_order.get(i, ()) for i in changes.latest))
        return self._nudge_behind(checked, latest)

    def _nudge_behind(self, checked: set[Watched], latest: dict[str, int]) -> int:
        now, nudged = self._clock(), 0
        for watched in checked:
            if latest.get(watched.order_id, 0) <= watched.seq:
                continue
            if watched not in self._by_order.get(watched.order_id, ()):
                continue  # its stream ended meanwhile
            if now - watched.quiet_since >= self._period_s:
                watched.nudge()
                nudged += 1
            else:  # it delivered just now: its live event may be on its way
                self._by_id.add(watched)
        return nudged

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._period_s)
            try:
                nudged = await self.sweep()
            except EngineError as exc:  # the store is down: streams wait, the next sweep
                log.warning("stream watch: could not check the open streams: %s", exc.message)
                continue
            if nudged:
                log.info("stream watch: %d streams were behind the store (a lost publish)", nudged)

    async def close(self) -> None:
        """Stop the task (the streams themselves end with the bus)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
