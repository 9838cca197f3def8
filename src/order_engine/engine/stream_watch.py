"""`StreamWatch`: one watchdog for all of a process's open order streams.

A stream waits on its live subscription with no timeout, so an idle stream costs no CPU
and no timer. What the waiting alone would not cover is a publish that was lost (the event
committed, its fan-out failed, e.g. while Redis restarted): the stream would wait forever.
So every open stream is registered here with the last seq it delivered, and every
`period_s` the watch asks the store, in one batched read for every stream that has
delivered nothing for at least `period_s`, for each order's latest seq. A stream whose
order the store has moved past what it delivered is nudged: it wakes and re-reads the
store (`order_stream`). An idle process then costs one query per period, not one per
stream, and a lost publish reaches its stream within about two periods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from order_engine.domain.errors import EngineError
from order_engine.engine.ports import OrderStore

log = logging.getLogger(__name__)


class Watched:
    """One open stream: its order, the last seq it delivered and when, and how to wake it."""

    __slots__ = ("nudge", "order_id", "quiet_since", "seq")

    def __init__(self, order_id: str, seq: int, nudge: Callable[[], None], now: float) -> None:
        self.order_id, self.seq, self.nudge, self.quiet_since = order_id, seq, nudge, now


class StreamWatch:
    """The process's watchdog of open streams (see the module's docstring). Its task runs
    only while some stream is watched."""

    def __init__(
        self, store: OrderStore, period_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store, self._period_s, self._clock = store, period_s, clock
        self._watched: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def period_s(self) -> float:
        return self._period_s

    def __len__(self) -> int:
        return len(self._watched)

    @contextlib.contextmanager
    def watching(self, order_id: str, seq: int, nudge: Callable[[], None]) -> Iterator[Watched]:
        """Watch a stream of `order_id` that has delivered up to `seq`, while inside; call
        `delivered` on what it yields after each event it delivers."""
        watched = Watched(order_id, seq, nudge, self._clock())
        self._watched.add(watched)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stream-watch")
        try:
            yield watched
        finally:
            self._watched.discard(watched)
            if not self._watched and self._task is not None:
                self._task.cancel()
                self._task = None

    def delivered(self, watched: Watched, seq: int) -> None:
        watched.seq, watched.quiet_since = seq, self._clock()

    async def sweep(self) -> int:
        """One check of every stream quiet for at least a period: nudge those whose order
        the store has moved past what they delivered. Returns how many were nudged."""
        now = self._clock()
        due = [w for w in self._watched if now - w.quiet_since >= self._period_s]
        if not due:
            return 0
        latest = await self._store.latest_seqs(list({w.order_id for w in due}))
        behind = [w for w in due if latest.get(w.order_id, 0) > w.seq]
        for watched in behind:
            watched.nudge()
        return len(behind)

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
