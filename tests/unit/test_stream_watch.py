"""The watchdog of open order streams (`StreamWatch`) and the streams it watches: idle
streams cost no store reads of their own, one read of what changed per period checks them
all (a new stream is checked by id once), and a stream a lost publish left behind is
nudged and catches up from the store."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Callable

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.engine.order_stream import order_stream
from order_engine.engine.ports import Changes
from order_engine.engine.stream_watch import StreamWatch
from tests.contract.test_order_store import advance, stored
from tests.event_samples import payload_for

S = OrderStatus


class CountingStore(InMemoryOrderStore):
    """Counts the reads a stream or the watch makes; `down` makes the watch's reads fail."""

    def __init__(self) -> None:
        super().__init__()
        self.event_reads = 0
        self.batches: list[int] = []  # ids per by-id read
        self.change_reads = 0
        self.down = False
        self.batch_reads = asyncio.Event()  # cleared: the watch's reads wait
        self.batch_reads.set()

    async def changes(self, cursor: int | None) -> Changes:
        await self.batch_reads.wait()
        if self.down:
            raise DependencyUnavailableError("database down")
        self.change_reads += 1
        return await super().changes(cursor)

    async def events(self, order_id: str, after: int = 0) -> builtins.list[OrderEvent]:
        self.event_reads += 1
        return await super().events(order_id, after)

    async def latest_seqs(self, order_ids: builtins.list[str]) -> dict[str, int]:
        await self.batch_reads.wait()
        if self.down:
            raise DependencyUnavailableError("database down")
        self.batches.append(len(order_ids))
        return await super().latest_seqs(order_ids)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for `condition`: what takes a few of the watch's 10 ms periods alone can take
    longer on a loaded machine (the suite runs in parallel processes)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Nudges:
    def __init__(self) -> None:
        self.got: list[str] = []

    def of(self, name: str) -> Callable[[], None]:
        return lambda: self.got.append(name)


async def test_a_new_stream_is_checked_by_id_once_then_through_the_changes() -> None:
    store, clock, nudges = CountingStore(), ManualClock(), Nudges()
    watch = StreamWatch(store, 2.0, clock=clock)
    behind, current = [await stored(store) for _ in range(2)]
    await advance(store, behind, S.ROUTING)  # seq 2: its stream delivered only 1
    with (
        watch.watching(behind.id, 1, nudges.of("behind")),
        watch.watching(current.id, 1, nudges.of("current")),
    ):
        clock.now += 2.0
        assert await watch.sweep() == 1
        assert nudges.got == ["behind"] and store.batches == [2]  # one read for both
        for _ in range(3):  # nothing written since: no read by id, nobody nudged
            assert await watch.sweep() == 0
        assert store.batches == [2] and store.change_reads == 4
        await advance(store, current, S.ROUTING)
        assert await watch.sweep() == 1
        assert nudges.got == ["behind", "current"]
        assert store.batches == [2]  # seen in the changes, not read by id
        assert len(watch) == 2
    assert len(watch) == 0


async def test_a_stream_that_just_delivered_is_checked_again_at_the_next_sweep() -> None:
    store, clock, nudges = CountingStore(), ManualClock(), Nudges()
    watch = StreamWatch(store, 2.0, clock=clock)
    order = await stored(store)
    with watch.watching(order.id, 1, nudges.of("busy")) as busy:
        assert await watch.sweep() == 0  # its first check: up to date
        clock.now += 1.5
        await advance(store, order, S.ROUTING, S.BUILDING)
        watch.delivered(busy, 2)  # seq 3's publish may be on its way: not nudged yet
        assert await watch.sweep() == 0
        clock.now += 2.0  # nothing written since, yet it is still behind: nudged
        assert await watch.sweep() == 1
        assert nudges.got == ["busy"] and store.batches == [1, 1]


async def test_a_stream_opened_after_the_cursor_passed_its_write_is_still_checked() -> None:
    store, clock, nudges = CountingStore(), ManualClock(), Nudges()
    watch = StreamWatch(store, 2.0, clock=clock)
    other, order = await stored(store), await stored(store)
    with watch.watching(other.id, 1, nudges.of("other")):
        await watch.sweep()  # the cursor is set
        await advance(store, order, S.ROUTING)  # written after `order`'s stream read seq 1
        await watch.sweep()  # the changes name `order`: no stream of it yet
        with watch.watching(order.id, 1, nudges.of("late")):  # it read before the write
            clock.now += 2.0
            assert await watch.sweep() == 1
    assert nudges.got == ["late"]


async def test_an_idle_watch_of_many_streams_reads_only_the_changes() -> None:
    store, clock, nudges = CountingStore(), ManualClock(), Nudges()
    watch = StreamWatch(store, 2.0, clock=clock)
    orders = [await stored(store) for _ in range(1000)]
    with contextlib.ExitStack() as streams:
        for order in orders:
            streams.enter_context(watch.watching(order.id, 1, nudges.of(order.id)))
        for _ in range(5):
            clock.now += 2.0
            assert await watch.sweep() == 0
        assert store.batches == [1000]  # the first sweep's check by id, then none
        assert store.change_reads == 5 and nudges.got == []


async def test_the_watch_task_runs_only_while_streams_are_watched() -> None:
    store = CountingStore()
    order = await stored(store)
    watch = StreamWatch(store, 0.01)
    with watch.watching(order.id, 1, lambda: None):
        await until(lambda: store.change_reads >= 3)  # a read per period, for all streams
    await asyncio.sleep(0)
    reads = store.change_reads
    await asyncio.sleep(0.05)
    assert store.change_reads == reads  # stopped with the last stream
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "stream-watch"]


async def test_a_failing_store_read_is_logged_and_the_watch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = CountingStore()
    order = await stored(store)
    await advance(store, order, S.ROUTING)
    nudged = asyncio.Event()
    watch = StreamWatch(store, 0.01)
    store.down = True
    with watch.watching(order.id, 1, nudged.set), caplog.at_level(logging.WARNING):
        await until(lambda: "could not check the open streams" in caplog.text)
        store.down = False
        async with asyncio.timeout(2.0):
            await nudged.wait()
    await watch.close()


class _LossyBus(InMemoryEventBus):
    """Publishes of `order_id`'s events from `lose_from` on are lost (Redis was down)."""

    def __init__(self, lose_from: int) -> None:
        super().__init__()
        self.lose_from = lose_from

    async def publish(self, event: OrderEvent) -> None:
        if event.seq < self.lose_from:
            await super().publish(event)


async def _follow(
    store: CountingStore, bus: InMemoryEventBus, order: Order, watch: StreamWatch
) -> tuple[asyncio.Task[None], list[OrderEvent]]:
    got: list[OrderEvent] = []

    async def follow() -> None:
        async for event in order_stream(store, bus, order.id, 0, watch):
            got.append(event)

    task = asyncio.create_task(follow())
    await until(lambda: len(watch) == 1)  # replayed, now waiting on the live side
    return task, got


async def publish_steps(bus: InMemoryEventBus, store: CountingStore, order: Order) -> None:
    for event in await advance(store, order, S.ROUTING, S.BUILDING, S.SUBMITTED):
        await bus.publish(event)


async def test_an_idle_stream_reads_nothing_until_the_store_moves_past_it() -> None:
    store, bus = CountingStore(), InMemoryEventBus()
    order = await stored(store)
    watch = StreamWatch(store, 0.01)
    task, got = await _follow(store, bus, order, watch)
    reads = store.event_reads
    await until(lambda: store.change_reads >= 5)  # five periods, nothing new
    assert store.event_reads == reads  # no read of its own: one read of changes per period
    assert store.batches == [1]  # its first check by id
    # a sweep between a step's store write and its delivery would nudge the stream (a publish
    # still on its way looks lost): on a loaded machine that window can take a period, so
    # the watch's reads wait until the steps are delivered
    store.batch_reads.clear()
    await publish_steps(bus, store, order)
    await until(lambda: len(got) == 4)
    store.batch_reads.set()
    change_reads = store.change_reads
    await until(lambda: store.change_reads >= change_reads + 2)  # saw them delivered
    assert [e.seq for e in got] == [1, 2, 3, 4]
    assert store.event_reads == reads  # live events, no reads
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(watch) == 0


async def test_a_lost_publish_still_reaches_the_stream_through_the_watch() -> None:
    store, bus = CountingStore(), _LossyBus(lose_from=4)
    order = await stored(store)
    watch = StreamWatch(store, 0.01)
    task, got = await _follow(store, bus, order, watch)
    await publish_steps(bus, store, order)  # submitted (seq 4) is never published
    confirmed = order.apply(payload_for(S.CONFIRMED), ts_ms=order.updated_ms + 1)
    await store.append(order, confirmed)  # neither is this one: only the store has them
    async with asyncio.timeout(2.0):
        await task
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert got == await store.events(order.id)
    assert len(watch) == 0


async def test_a_stream_of_an_order_the_bus_just_saw_replays_it_without_reading_the_store() -> None:
    store, bus = CountingStore(), InMemoryEventBus()
    order = await stored(store)
    await bus.publish((await store.events(order.id))[0])  # pending, as the API publishes it
    await publish_steps(bus, store, order)
    reads = store.event_reads
    watch = StreamWatch(store, 0.01)
    task, got = await _follow(store, bus, order, watch)
    assert [e.seq for e in got] == [1, 2, 3, 4]
    assert got == await store.events(order.id)
    assert store.event_reads == reads + 1  # only the line above: the stream read nothing
    confirmed = order.apply(payload_for(S.CONFIRMED), ts_ms=order.updated_ms + 1)
    await store.append(order, confirmed)
    await bus.publish(confirmed)
    async with asyncio.timeout(2.0):
        await task
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]


async def test_a_lost_publish_of_an_order_the_bus_just_saw_reaches_the_stream_too() -> None:
    store, bus = CountingStore(), _LossyBus(lose_from=3)
    order = await stored(store)
    await bus.publish((await store.events(order.id))[0])
    await publish_steps(bus, store, order)  # building (3) and submitted (4) are lost
    task, got = await _follow(store, bus, order, StreamWatch(store, 0.01))
    async with asyncio.timeout(2.0):  # the watch finds the store ahead: the stream reads it
        while len(got) < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert got == await store.events(order.id)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
