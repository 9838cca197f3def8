"""An order's event stream: the stored events after a seq, then the live ones from the
bus, with no gap and no duplicate, to the terminal event. While nothing arrives live for a
while, the store is asked again (covers an event whose publish was lost, e.g. while Redis
restarted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from order_engine.domain.orders import OrderEvent
from order_engine.engine.ports import EventBus, OrderStore


async def order_stream(
    store: OrderStore, bus: EventBus, order_id: str, after: int, idle_check_s: float
) -> AsyncIterator[OrderEvent]:
    """Every event with seq > `after`: stored ones first, then live ones, with no gap
    and no duplicate; ends after the terminal event."""
    async with bus.subscribe(order_id, after) as live:
        last = after
        stored = await store.events(order_id, after)
        if not stored:  # unknown order (404), or nothing after `after` yet
            order = await store.get(order_id)
            if order.is_terminal and after >= order.seq:
                return  # nothing more will ever come
        for event in stored:
            yield event
            last = event.seq
            if event.is_terminal:
                return
        async for maybe in _with_idle_checks(live, idle_check_s):
            # None: nothing live for a while; the store is the record, so look there
            # (covers an event whose publish was lost, e.g. while Redis restarted)
            fresh = [maybe] if maybe is not None else []
            if maybe is None or maybe.seq > last + 1:
                fresh = await store.events(order_id, last)
            for ev in fresh:
                if ev.seq <= last:
                    continue
                yield ev
                last = ev.seq
                if ev.is_terminal:
                    return


async def _with_idle_checks(
    live: AsyncIterator[OrderEvent], idle_s: float
) -> AsyncIterator[OrderEvent | None]:
    """The live events, with a None after every `idle_s` without one."""
    pending: asyncio.Future[OrderEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(live))
            done, _ = await asyncio.wait({pending}, timeout=idle_s)
            if not done:
                yield None
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()
