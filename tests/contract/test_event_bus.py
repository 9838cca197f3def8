"""Contract of `EventBus`: every implementation in `IMPLEMENTATIONS` must pass it.

Add an implementation by adding one `pytest.param(build_fn, id=...)` entry; `build_fn`
returns a fresh bus (the fixture closes it afterwards) whose feed of every order's events
keeps about `feed_length` entries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.redis_bus import RedisEventBus
from order_engine.adapters.redis_client import redis_client
from order_engine.domain.orders import OrderEvent, OrderStatus
from order_engine.engine.ports import EventBus, FeedEntry, FeedSubscription
from tests.services import delete_prefixed_keys, require_redis_url

FEED_LENGTH = 10_000


async def build_memory_bus(feed_length: int = FEED_LENGTH) -> EventBus:
    return InMemoryEventBus(feed_length=feed_length)


class _SelfCleaningRedisBus(RedisEventBus):
    """A `RedisEventBus` under a unique key prefix whose keys are deleted on close."""

    def __init__(self, url: str, feed_length: int) -> None:
        self.prefix, self.url = f"oe-test-{uuid.uuid4().hex[:12]}", url
        self.redis = redis_client(url)
        super().__init__(self.redis, prefix=self.prefix, feed_length=feed_length)

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose()
        await delete_prefixed_keys(self.url, self.prefix)


async def build_redis_bus(feed_length: int = FEED_LENGTH) -> EventBus:
    return _SelfCleaningRedisBus(require_redis_url(), feed_length)


IMPLEMENTATIONS = [
    pytest.param(build_memory_bus, id="memory"),
    pytest.param(build_redis_bus, id="redis"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    build: Callable[[], Awaitable[EventBus]] = request.param
    instance = await build()
    yield instance
    await instance.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def short_feed_bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    """A bus whose feed keeps only about 10 entries (Redis trims `~`: whole nodes)."""
    build: Callable[[int], Awaitable[EventBus]] = request.param
    instance = await build(10)
    yield instance
    await instance.close()


def event(order_id: str, seq: int) -> OrderEvent:
    return OrderEvent(
        order_id,
        seq,
        OrderStatus.ROUTING,
        ts_ms=1_700_000_000_000 + seq,
        attempt=1,
        data={"n": seq},
    )


async def take(events: AsyncIterator[OrderEvent], count: int) -> list[OrderEvent]:
    got: list[OrderEvent] = []
    async with asyncio.timeout(5.0):
        while len(got) < count:
            got.append(await anext(events))
    return got


async def publish_all(bus: EventBus, order_id: str, seqs: range) -> None:
    for seq in seqs:
        await bus.publish(event(order_id, seq))


async def test_subscriber_gets_later_events_in_order(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        await publish_all(bus, "a", range(1, 6))
        got = await take(events, 5)
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert got[2] == event("a", 3)


async def test_publish_does_not_wait_for_a_slow_subscriber(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        async with asyncio.timeout(2.0):
            await publish_all(bus, "a", range(1, 1001))
        got = await take(events, 1000)
    assert [e.seq for e in got] == list(range(1, 1001))


async def test_after_filters_older_events(bus: EventBus) -> None:
    async with bus.subscribe("a", after=3) as events:
        await publish_all(bus, "a", range(1, 7))
        got = await take(events, 3)
    assert [e.seq for e in got] == [4, 5, 6]


async def test_every_subscriber_gets_every_event(bus: EventBus) -> None:
    async with bus.subscribe("a") as first, bus.subscribe("a") as second:
        await publish_all(bus, "a", range(1, 4))
        got_first = await take(first, 3)
        got_second = await take(second, 3)
    assert [e.seq for e in got_first] == [1, 2, 3]
    assert [e.seq for e in got_second] == [1, 2, 3]


async def test_events_of_other_orders_are_not_delivered(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        await bus.publish(event("b", 1))
        await bus.publish(event("a", 1))
        await bus.publish(event("b", 2))
        await bus.publish(event("a", 2))
        got = await take(events, 2)
    assert [(e.order_id, e.seq) for e in got] == [("a", 1), ("a", 2)]


async def test_a_new_subscription_works_after_another_ended(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        await publish_all(bus, "a", range(1, 2))
        await take(events, 1)
    await publish_all(bus, "a", range(2, 3))
    async with bus.subscribe("a", after=2) as events:
        await publish_all(bus, "a", range(3, 4))
        got = await take(events, 1)
    assert [e.seq for e in got] == [3]


async def test_close_ends_iteration(bus: EventBus) -> None:
    async def drain() -> list[OrderEvent]:
        async with bus.subscribe("a") as events:
            return [e async for e in events]

    reader = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    await bus.close()
    async with asyncio.timeout(2.0):
        await reader


async def test_a_nudge_wakes_a_waiting_reader_with_none(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        reader = asyncio.create_task(events.next_or_nudge())
        await asyncio.sleep(0.02)  # waiting
        assert not reader.done()
        events.nudge()
        async with asyncio.timeout(2.0):
            assert await reader is None
        reader = asyncio.create_task(events.next_or_nudge())  # the nudge was used up
        await asyncio.sleep(0.02)
        assert not reader.done()
        await publish_all(bus, "a", range(1, 2))
        async with asyncio.timeout(2.0):
            got = await reader
    assert got is not None and got.seq == 1


async def test_a_nudge_comes_after_the_events_already_waiting(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        await publish_all(bus, "a", range(1, 3))
        async with asyncio.timeout(2.0):
            first = await events.next_or_nudge()  # the reader may need the first to arrive
        events.nudge()
        async with asyncio.timeout(2.0):
            rest = [await events.next_or_nudge(), await events.next_or_nudge()]
    assert first is not None and first.seq == 1
    assert [e.seq if e is not None else None for e in rest] == [2, None]


async def test_next_or_nudge_ends_when_the_bus_closes(bus: EventBus) -> None:
    async with bus.subscribe("a") as events:
        reader = asyncio.create_task(events.next_or_nudge())
        await asyncio.sleep(0.02)
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            async with asyncio.timeout(2.0):
                await reader


# The feed of every order's events (`subscribe_all`)


async def take_feed(entries: FeedSubscription, count: int) -> list[FeedEntry]:
    got: list[FeedEntry] = []
    iterator = aiter(entries)
    async with asyncio.timeout(5.0):
        while len(got) < count:
            got.append(await anext(iterator))
    return got


def feed_key(entry: FeedEntry) -> tuple[int, int]:
    ms, _, n = entry.id.partition("-")
    return int(ms), int(n)


async def test_feed_has_every_orders_events_in_publish_order(bus: EventBus) -> None:
    async with bus.subscribe_all() as feed:
        for seq in range(1, 4):
            await bus.publish(event("a", seq))
            await bus.publish(event("b", seq))
        got = await take_feed(feed, 6)
    assert [(e.event.order_id, e.event.seq) for e in got] == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)
    ]  # fmt: skip
    assert got[0].event == event("a", 1)
    keys = [feed_key(e) for e in got]
    assert keys == sorted(keys) and len(set(keys)) == 6
    assert not feed.gap


async def test_feed_from_now_skips_what_was_published_before(bus: EventBus) -> None:
    await publish_all(bus, "a", range(1, 4))
    async with bus.subscribe_all() as feed:
        await bus.publish(event("b", 1))
        got = await take_feed(feed, 1)
    assert [(e.event.order_id, e.event.seq) for e in got] == [("b", 1)]


async def test_feed_resumes_after_an_id(bus: EventBus) -> None:
    async with bus.subscribe_all() as feed:
        await publish_all(bus, "a", range(1, 6))
        first = await take_feed(feed, 5)
    async with bus.subscribe_all(after=first[1].id) as resumed:
        assert not resumed.gap
        await bus.publish(event("b", 1))
        got = await take_feed(resumed, 4)
    assert [e.id for e in got[:3]] == [e.id for e in first[2:]]
    assert [(e.event.order_id, e.event.seq) for e in got] == [
        ("a", 3), ("a", 4), ("a", 5), ("b", 1)
    ]  # fmt: skip


async def test_every_feed_subscriber_gets_every_event(bus: EventBus) -> None:
    async with bus.subscribe_all() as first, bus.subscribe_all() as second:
        await publish_all(bus, "a", range(1, 4))
        got_first, got_second = await take_feed(first, 3), await take_feed(second, 3)
    assert [e.id for e in got_first] == [e.id for e in got_second]


async def test_feed_history_is_bounded_and_says_when_it_lost_events(
    short_feed_bus: EventBus,
) -> None:
    bus = short_feed_bus
    async with bus.subscribe_all() as feed:
        await publish_all(bus, "a", range(1, 301))
        published = await take_feed(feed, 300)
    async with bus.subscribe_all(after=published[0].id) as resumed:
        assert resumed.gap  # the first entries after it were trimmed away
        await bus.publish(event("a", 301))
        got: list[FeedEntry] = []
        async with asyncio.timeout(5.0):
            async for entry in resumed:
                got.append(entry)
                if entry.event.seq == 301:
                    break
    assert 10 <= len(got) - 1 < 300  # only the retained tail is replayed, in order
    assert [e.event.seq for e in got] == list(range(302 - len(got), 302))
    async with bus.subscribe_all(after=published[-3].id) as recent:
        assert not recent.gap
        assert [e.event.seq for e in await take_feed(recent, 2)] == [299, 300]


async def test_a_feed_id_of_long_ago_is_a_gap_once_history_was_trimmed(
    short_feed_bus: EventBus,
) -> None:
    await publish_all(short_feed_bus, "a", range(1, 301))
    async with short_feed_bus.subscribe_all(after="1-0") as resumed:
        assert resumed.gap


async def test_a_malformed_feed_id_is_refused(bus: EventBus) -> None:
    with pytest.raises(ValueError):
        async with bus.subscribe_all(after="yesterday"):
            pass


async def test_close_ends_the_feed(bus: EventBus) -> None:
    async def drain() -> list[FeedEntry]:
        async with bus.subscribe_all() as feed:
            return [e async for e in feed]

    reader = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    await bus.close()
    async with asyncio.timeout(2.0):
        await reader


async def recent_of(bus: EventBus, order_id: str, after: int = 0) -> list[OrderEvent] | None:
    async with bus.subscribe(order_id, after) as live:
        first = live.recent()
        assert live.recent() is None  # asked once
        return first


async def until_recent(bus: EventBus, order_id: str, count: int) -> list[OrderEvent]:
    """The bus's recent events of `order_id`, once it has seen `count` of them (another
    process's come back from the feed a moment after they were published)."""
    async with asyncio.timeout(5.0):
        while True:
            seen = await recent_of(bus, order_id)
            if seen is not None and len(seen) >= count:
                return seen
            await asyncio.sleep(0.01)


async def test_a_new_subscription_gets_the_events_the_bus_saw_before_it(bus: EventBus) -> None:
    async with bus.subscribe("warm-up"):  # a bus that follows the feed from here on
        await publish_all(bus, "a", range(1, 4))
        assert [e.seq for e in await until_recent(bus, "a", 3)] == [1, 2, 3]
        assert await until_recent(bus, "a", 3) == [event("a", s) for s in (1, 2, 3)]
        assert [e.seq for e in await recent_of(bus, "a", after=2) or []] == [3]
        async with bus.subscribe("a", 3) as live:
            assert live.recent() == []  # nothing after 3 yet: the rest comes live
            await bus.publish(event("a", 4))
            assert (await take(live, 1))[0].seq == 4


async def test_the_bus_does_not_answer_for_a_history_it_did_not_see_whole(bus: EventBus) -> None:
    async with bus.subscribe("warm-up"):
        await publish_all(bus, "holed", range(1, 2))
        await publish_all(bus, "holed", range(3, 4))  # 2's publish was lost
        await publish_all(bus, "late", range(2, 4))  # seen from 2 on only
        await publish_all(bus, "marker", range(1, 2))
        await until_recent(bus, "marker", 1)  # the feed has brought everything before
        assert await recent_of(bus, "holed") is None
        assert await recent_of(bus, "late") is None
        assert await recent_of(bus, "never-published") is None
