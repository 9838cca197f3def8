"""An order's event stream: the stored events after a seq, then the live ones from the
bus, with no gap and no duplicate, to the terminal event. The live side waits with no
timeout (an idle stream costs nothing); the process's `StreamWatch` nudges a stream whose
order the store has moved past what it delivered (an event whose publish was lost, e.g.
while Redis restarted), and the stream then reads the store, the record."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from order_engine.domain.orders import OrderEvent
from order_engine.engine.ports import EventBus, LiveEvents, OrderStore
from order_engine.engine.stream_watch import StreamWatch


async def order_stream(
    store: OrderStore, bus: EventBus, order_id: str, after: int, watch: StreamWatch
) -> AsyncGenerator[OrderEvent, None]:
    """Every event with seq > `after`: stored ones first (or the bus's copy of them, for
    an order made moments ago), then live ones, with no gap and no duplicate; ends after
    the terminal event."""
    async with bus.subscribe(order_id, after) as live:
        last = after
        batch = live.recent()  # an order just made: its events are still in memory
        if batch is None:
            batch = await store.events(order_id, after)
        if not batch:  # unknown order (404), or nothing after `after` yet
            order = await store.get(order_id)
            if order.is_terminal and after >= order.seq:
                return  # nothing more will ever come
        event: OrderEvent | None = None
        with watch.watching(order_id, after, live.nudge) as watched:
            while batch is not None:
                for event in batch:
                    if event.seq <= last:
                        continue
                    yield event
                    last = event.seq
                    if event.is_terminal:
                        return
                watch.delivered(watched, last)
                batch = event = None  # an idle stream holds no event while it waits
                batch = await _next_batch(store, live, order_id, last)


async def _next_batch(
    store: OrderStore, live: LiveEvents, order_id: str, last: int
) -> list[OrderEvent] | None:
    """What follows `last`: the next live event, or the store's events after `last` when
    nudged (the store is ahead) or after a gap (an event between was lost); None when the
    subscription ended (the bus closed)."""
    try:
        event = await live.next_or_nudge()
    except StopAsyncIteration:
        return None
    if event is not None and event.seq <= last + 1:
        return [event]
    return await store.events(order_id, last)
