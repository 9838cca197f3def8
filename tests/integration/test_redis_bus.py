"""`RedisEventBus` against real Redis: fan-out across processes, replay plus live with no
gap or duplicate, bounded and expiring streams, and Redis down or restarted."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from order_engine.adapters.redis_bus import MAX_IN_FLIGHT, RedisEventBus, decode_event
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_streams import StreamReader, Subscription
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import OrderEvent, OrderStatus
from tests.integration.redis_server import free_port, private_redis
from tests.services import require_redis_url

PUBLISHER_SCRIPT = """
import asyncio, sys
from order_engine.adapters.redis_bus import MAX_IN_FLIGHT, RedisEventBus, decode_event
from order_engine.domain.orders import OrderEvent, OrderStatus

async def main(url, prefix, order_id, count):
    bus = RedisEventBus(url, prefix=prefix)
    try:
        for seq in range(1, count + 1):
            event = OrderEvent(order_id, seq, OrderStatus.ROUTING, ts_ms=seq, attempt=1,
                               data={"n": seq})
            await bus.publish(event)
    finally:
        await bus.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


@dataclass
class Buses:
    """Buses under one unique key prefix; every key under it is deleted afterwards."""

    url: str
    admin: Redis
    prefix: str = field(default_factory=lambda: f"oe-it-{uuid.uuid4().hex[:12]}")
    created: list[RedisEventBus] = field(default_factory=list)

    def make(self, **options: Any) -> RedisEventBus:
        bus = RedisEventBus(self.url, prefix=self.prefix, **options)
        self.created.append(bus)
        return bus

    def key(self, order_id: str) -> str:
        return f"{self.prefix}:events:{order_id}"

    async def keys(self) -> list[bytes]:
        return [key async for key in self.admin.scan_iter(match=f"{self.prefix}:*")]


@pytest.fixture
async def buses() -> AsyncIterator[Buses]:
    url = require_redis_url()
    created = Buses(url, redis_client(url))
    try:
        yield created
    finally:
        for bus in created.created:
            await bus.close()
        if keys := await created.keys():
            await created.admin.delete(*keys)
        await created.admin.aclose()


def event(order_id: str, seq: int) -> OrderEvent:
    return OrderEvent(order_id, seq, OrderStatus.ROUTING, ts_ms=seq, attempt=1, data={"n": seq})


async def publish_range(bus: RedisEventBus, order_id: str, first: int, last: int) -> None:
    for seq in range(first, last + 1):
        await bus.publish(event(order_id, seq))


async def seqs(events: AsyncIterator[OrderEvent], count: int, timeout_s: float = 10.0) -> list[int]:
    got: list[int] = []
    async with asyncio.timeout(timeout_s):
        while len(got) < count:
            got.append((await anext(events)).seq)
    return got


async def assert_quiet(events: AsyncIterator[OrderEvent]) -> None:
    """Nothing more arrives (no duplicate after the expected events)."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(events), 0.1)


async def test_a_subscriber_gets_every_event_another_process_publishes(buses: Buses) -> None:
    bus = buses.make()
    async with bus.subscribe("x") as events:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER_SCRIPT, buses.url, buses.prefix, "x", "200"
        )
        assert await process.wait() == 0
        assert await seqs(events, 200) == list(range(1, 201))
        await assert_quiet(events)


async def test_3000_events_reach_early_and_midway_subscribers_in_order_once(
    buses: Buses,
) -> None:
    publisher, watcher = buses.make(maxlen=10_000), buses.make(maxlen=10_000)
    halfway = asyncio.Event()
    published = 0

    async def publish() -> None:  # ten at a time: they go out in one pipeline, in order
        nonlocal published
        for first in range(1, 3001, 10):
            await asyncio.gather(
                *(publisher.publish(event("o", s)) for s in range(first, first + 10))
            )
            published = first + 9
            if published == 1500:
                halfway.set()

    async with watcher.subscribe("o") as early:
        publishing = asyncio.create_task(publish())
        await halfway.wait()
        assert published < 3000  # the others join while events are still coming
        async with (
            watcher.subscribe("o") as same_reader,
            publisher.subscribe("o") as own_reader,
            watcher.subscribe("o", after=1000) as resumed,
        ):
            got = await asyncio.gather(
                seqs(early, 3000), seqs(same_reader, 3000), seqs(own_reader, 3000)
            )
            assert list(got) == [list(range(1, 3001))] * 3
            assert await seqs(resumed, 2000) == list(range(1001, 3001))
            await publishing
            for events in (early, same_reader, own_reader, resumed):
                await assert_quiet(events)


async def test_a_replay_older_than_the_readers_position_is_caught_up(
    buses: Buses, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = buses.make()
    await publish_range(bus, "o", 1, 3)
    async with bus.subscribe("o") as first:
        assert await seqs(first, 3) == [1, 2, 3]
        real_range = bus._range

        async def stale_replay(key: str, after: Any, until: Any) -> Any:
            entries = await real_range(key, after, until)
            if after is None:  # the reader moves past this replay before it is used
                await publish_range(bus, "o", 4, 6)
                assert await seqs(first, 3) == [4, 5, 6]
            return entries

        monkeypatch.setattr(bus, "_range", stale_replay)
        async with bus.subscribe("o") as second:
            await publish_range(bus, "o", 7, 8)
            assert await seqs(second, 8) == list(range(1, 9))
            await assert_quiet(second)


async def test_streams_expire_and_each_publish_refreshes_the_ttl(buses: Buses) -> None:
    bus = buses.make(stream_ttl_s=120)
    await bus.publish(event("o", 1))
    assert 0 < await buses.admin.ttl(buses.key("o")) <= 120
    await buses.admin.expire(buses.key("o"), 5)
    await bus.publish(event("o", 2))
    assert 5 < await buses.admin.ttl(buses.key("o")) <= 120
    async with bus.subscribe("o") as events:
        assert await seqs(events, 2) == [1, 2]
        keys = await buses.keys()
        assert len(keys) == 3  # the order's stream, the bus's wake stream and the feed
        for key in keys:
            assert 0 < await buses.admin.ttl(key) <= 120, key


async def test_a_finished_orders_stream_goes_soon_and_a_live_ones_stays(buses: Buses) -> None:
    bus = buses.make(stream_ttl_s=3600, finished_ttl_s=2)
    for n in range(200):
        for seq, status in enumerate(("pending", "routing", "building", "confirmed"), 1):
            final = f"done-{n}"
            await bus.publish(OrderEvent(final, seq, OrderStatus(status), ts_ms=seq, attempt=1))
        await bus.publish(OrderEvent(f"live-{n}", 1, OrderStatus.PENDING, ts_ms=1, attempt=1))
    assert 0 < await buses.admin.pttl(buses.key(f"done-{n}")) <= 2000
    assert 3000 < await buses.admin.ttl(buses.key("live-0")) <= 3600
    await asyncio.sleep(2.2)
    left = {key.decode().rsplit(":", 1)[1] for key in await buses.keys()}
    left.discard("events-feed")  # the feed of every order's events (capped) stays
    assert left == {f"live-{n}" for n in range(200)}  # nothing of the 200 finished orders


async def test_streams_are_trimmed_to_about_maxlen(buses: Buses) -> None:
    bus = buses.make(maxlen=100)
    await publish_range(bus, "o", 1, 1000)
    length = await buses.admin.xlen(buses.key("o"))
    assert 100 <= length < 300
    async with bus.subscribe("o") as events:
        assert await seqs(events, length) == list(range(1001 - length, 1001))
        await assert_quiet(events)


async def test_redis_down_raises_dependency_unavailable_quickly() -> None:
    port = free_port()  # nothing listens there
    bus = RedisEventBus(f"redis://127.0.0.1:{port}/0", prefix="oe-down")
    started = time.monotonic()
    try:
        errors = []
        for attempt in (bus.ping(), bus.publish(event("o", 1))):
            with pytest.raises(DependencyUnavailableError) as info:
                await attempt
            errors.append(info.value)
        with pytest.raises(DependencyUnavailableError) as info:
            async with bus.subscribe("o"):
                pass
        errors.append(info.value)
    finally:
        await bus.close()
    assert time.monotonic() - started < 1.0
    for error in errors:
        assert isinstance(error.__cause__, RedisConnectionError)
        assert str(port) not in str(error) and "connect" not in str(error).lower()


async def test_publish_and_live_delivery_recover_after_a_redis_restart() -> None:
    with private_redis() as server:
        publisher = RedisEventBus(server.url, prefix="oe-restart")
        watcher = RedisEventBus(server.url, prefix="oe-restart")
        try:
            async with watcher.subscribe("o") as events:
                await publisher.publish(event("o", 1))
                assert await seqs(events, 1) == [1]
                server.stop()
                with pytest.raises(DependencyUnavailableError):
                    await publisher.publish(event("o", 2))
                with pytest.raises(DependencyUnavailableError):
                    await publisher.ping()
                server.start()
                await publisher.ping()
                await publisher.publish(event("o", 3))
                assert await seqs(events, 1, timeout_s=5.0) == [3]
            async with watcher.subscribe("o") as replay:  # Redis kept nothing from before
                assert await seqs(replay, 1) == [3]
                await assert_quiet(replay)
        finally:
            await publisher.close()
            await watcher.close()


async def test_the_reader_stops_promptly_whenever_it_is_closed(buses: Buses) -> None:
    """redis-py 8.1 swallows a cancel that lands while it connects; close() must not hang."""
    for ticks in range(30):
        reader = StreamReader(buses.admin, f"{buses.prefix}:wake", decode_event, wake_ttl_s=60)
        reader.add(buses.key("o"), Subscription(0), (0, 0))
        for _ in range(ticks):  # lands the cancel at each step of connecting and reading
            await asyncio.sleep(0)
        started = time.monotonic()
        await reader.close()
        assert time.monotonic() - started < 1.0, ticks


async def test_one_bad_publish_does_not_fail_the_others_in_its_batch(buses: Buses) -> None:
    bus = buses.make()
    await buses.admin.set(buses.key("bad"), b"not a stream")
    bad, good = await asyncio.gather(
        bus.publish(event("bad", 1)), bus.publish(event("good", 1)), return_exceptions=True
    )
    assert isinstance(bad, DependencyUnavailableError) and "WRONGTYPE" not in str(bad)
    assert good is None
    async with bus.subscribe("good") as events:
        assert await seqs(events, 1) == [1]


async def test_200_subscribers_share_a_few_connections_and_free_them() -> None:
    with private_redis() as server:
        publisher = RedisEventBus(server.url, prefix="oe-many")
        watcher = RedisEventBus(server.url, prefix="oe-many")
        admin = redis_client(server.url)
        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = [
                    await stack.enter_async_context(watcher.subscribe(f"o{i % 50}"))
                    for i in range(200)
                ]
                assert watcher.subscriber_count("o7") == 4
                await asyncio.gather(*(publish_range(publisher, f"o{i}", 1, 5) for i in range(50)))
                got = await asyncio.gather(*(seqs(events, 5) for events in streams))
                assert got == [[1, 2, 3, 4, 5]] * 200
                clients = len(await admin.client_list())
                assert clients <= 2 + 2 * MAX_IN_FLIGHT  # admin, readers, pools: not 200
            assert watcher.subscriber_count("o7") == 0
        finally:
            await admin.aclose()
            await publisher.close()
            await watcher.close()
