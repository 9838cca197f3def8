"""What the order queue is doing, as seen from the feed of every order's events (so an API
process sees every worker's orders, in every mode): orders in flight (routing, building or
submitted), orders started in the rate limiter's window, and orders finished per minute.

Counted from the events this process has seen since it started: an order already in flight
then counts from its next event. Starts are the `routing` events (an order's first step of
execution); a retry of a started order sends no second `routing`, so `started` is what the
limiter let through for new executions, not its exact count of jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import TERMINAL, OrderEvent, OrderStatus
from order_engine.engine.ports import Clock, EventBus

log = logging.getLogger(__name__)
EXECUTING = frozenset({OrderStatus.ROUTING, OrderStatus.BUILDING, OrderStatus.SUBMITTED})
THROUGHPUT_WINDOW_MS = 60_000
STALE_MS = 15 * 60_000  # an order silent in flight this long is dropped from the count
MAX_TRACKED = 100_000
RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class ActivitySnapshot:
    in_flight: int
    started_in_window: int  # `routing` events in the last rate-limit window
    finished_last_minute: int  # terminal events in the last 60 s
    since_ms: int  # when this process started counting


class QueueActivity:
    def __init__(self, clock: Clock, *, window_s: float) -> None:
        self._clock = clock
        self._window_ms = max(1, round(window_s * 1000))
        self._since_ms = clock.now_ms()
        self._in_flight: dict[str, int] = {}  # order id -> when it was last seen
        self._starts: deque[int] = deque(maxlen=MAX_TRACKED)
        self._finished: deque[int] = deque(maxlen=MAX_TRACKED)

    def observe(self, event: OrderEvent) -> None:
        now = self._clock.now_ms()
        if event.status in EXECUTING:
            if len(self._in_flight) < MAX_TRACKED or event.order_id in self._in_flight:
                self._in_flight[event.order_id] = now
            if event.status is OrderStatus.ROUTING:
                self._starts.append(now)
            return
        self._in_flight.pop(event.order_id, None)  # waiting again, or finished
        if event.status in TERMINAL:
            self._finished.append(now)

    def snapshot(self) -> ActivitySnapshot:
        now = self._clock.now_ms()
        _drop_before(self._starts, now - self._window_ms)
        _drop_before(self._finished, now - THROUGHPUT_WINDOW_MS)
        stale = [oid for oid, seen in self._in_flight.items() if seen < now - STALE_MS]
        for order_id in stale:
            del self._in_flight[order_id]
        return ActivitySnapshot(
            len(self._in_flight), len(self._starts), len(self._finished), self._since_ms
        )

    async def run(self, bus: EventBus) -> None:
        """Observe the feed until the bus closes; wait out the bus's outages."""
        while True:
            try:
                async with bus.subscribe_all() as feed:
                    async for entry in feed:
                        self.observe(entry.event)
                return  # the bus closed
            except DependencyUnavailableError as exc:
                log.warning("queue activity: %s; retrying", exc.message)
                await asyncio.sleep(RETRY_S)


def _drop_before(times: deque[int], cutoff: int) -> None:
    while times and times[0] < cutoff:
        times.popleft()
