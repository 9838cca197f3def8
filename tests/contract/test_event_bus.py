"""Contract of `EventBus`: every implementation in `IMPLEMENTATIONS` must pass it.

Add an implementation by adding one `pytest.param(build_fn, id=...)` entry; `build_fn`
returns a fresh bus (the fixture closes it afterwards).
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
from order_engine.engine.ports import EventBus
from tests.services import delete_prefixed_keys, require_redis_url


async def build_memory_bus() -> EventBus:
    return InMemoryEventBus()


class _SelfCleaningRedisBus(RedisEventBus):
    """A `RedisEventBus` under a unique key prefix whose keys are deleted on close."""

    def __init__(self, url: str) -> None:
        self.prefix, self.url = f"oe-test-{uuid.uuid4().hex[:12]}", url
        self.redis = redis_client(url)
        super().__init__(self.redis, prefix=self.prefix)

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose()
        await delete_prefixed_keys(self.url, self.prefix)


async def build_redis_bus() -> EventBus:
    return _SelfCleaningRedisBus(require_redis_url())


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
