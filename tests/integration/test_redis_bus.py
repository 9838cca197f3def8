"""`RedisEventBus` against real Redis: fan-out across processes, live delivery from the
moment of subscribing with no gap or duplicate, one bounded and expiring feed (no key per
order), and Redis down or restarted."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from order_engine.adapters.recent_events import RecentEvents
from order_engine.adapters.redis_bus import MAX_IN_FLIGHT, RedisEventBus, decode_event
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_streams import FeedReader, Subscription
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

    @property
    def feed(self) -> str:
        return f"{self.prefix}:events-feed"

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


async def tail(events: AsyncIterator[OrderEvent], last: int, timeout_s: float = 10.0) -> list[int]:
    """Seqs up to and including `last`."""
    got: list[int] = []
    async with asyncio.timeout(timeout_s):
        while not got or got[-1] < last:
            got.append((await anext(events)).seq)
    return got


async def test_3000_events_reach_early_and_midway_subscribers_in_order_once(
    buses: Buses,
) -> None:
    publisher, watcher = buses.make(), buses.make()
    halfway = asyncio.Event()
    published = 0

    async def publish() -> None:  # ten at a time: they go out in one call, in order
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
            watcher.subscribe("o", after=2000) as resumed,
        ):
            joined = published  # everything after this was published after they subscribed
            got = await asyncio.gather(
                tail(early, 3000), tail(same_reader, 3000), tail(own_reader, 3000)
            )
            assert got[0] == list(range(1, 3001))
            for midway in got[1:]:
                assert midway[0] <= joined + 1
                assert midway == list(range(midway[0], 3001))  # no gap, no repeat
            assert await seqs(resumed, 1000) == list(range(2001, 3001))
            await publishing
            for events in (early, same_reader, own_reader, resumed):
                await assert_quiet(events)


async def test_a_subscription_gets_what_is_published_once_it_returns_not_before(
    buses: Buses,
) -> None:
    publisher = buses.make()
    await publish_range(publisher, "o", 1, 3)
    for _ in range(3):  # a fresh reader each time: its first XREAD may not be out yet
        watcher = buses.make()
        async with watcher.subscribe("o") as events:
            await publisher.publish(event("o", 4))
            assert await seqs(events, 1) == [4]
            await assert_quiet(events)
        await buses.admin.xtrim(buses.feed, maxlen=0)


async def test_entries_are_routed_by_order_id_without_the_payload_being_decoded(
    buses: Buses, caplog: pytest.LogCaptureFixture
) -> None:
    bus = buses.make(recent=RecentEvents(max_orders=0))  # keeping no recent events
    async with bus.subscribe("a") as events:
        await buses.admin.xadd(buses.feed, {"o": "b", "data": b"not json"})  # unwatched
        await buses.admin.xadd(buses.feed, {"data": orjson.dumps(event("a", 1).as_dict())})
        await bus.publish(event("a", 2))
        assert await seqs(events, 2) == [1, 2]  # an entry without its order id: from its payload
    assert "malformed" not in caplog.text


async def test_a_bus_keeping_recent_events_decodes_every_entry_for_them(
    buses: Buses, caplog: pytest.LogCaptureFixture
) -> None:
    bus = buses.make()
    async with bus.subscribe("a") as events:
        await buses.admin.xadd(buses.feed, {"o": "b", "data": b"not json"})  # unwatched
        await buses.admin.xadd(
            buses.feed, {"o": "c", "data": orjson.dumps(event("c", 1).as_dict())}
        )
        await bus.publish(event("a", 1))
        assert await seqs(events, 1) == [1]
    assert "malformed" in caplog.text  # b's entry was decoded, though nobody watches b
    async with bus.subscribe("c") as c_events:
        assert [e.seq for e in c_events.recent() or []] == [1]  # another process's order


async def test_the_feed_is_the_only_key_and_each_publish_refreshes_its_ttl(buses: Buses) -> None:
    bus = buses.make(feed_ttl_s=120)
    async with bus.subscribe("o") as events:
        await bus.publish(event("o", 1))
        assert 0 < await buses.admin.ttl(buses.feed) <= 120
        await buses.admin.expire(buses.feed, 5)
        await bus.publish(event("o", 2))
        assert 5 < await buses.admin.ttl(buses.feed) <= 120
        assert await seqs(events, 2) == [1, 2]
        assert await buses.keys() == [buses.feed.encode()]


async def test_the_feed_is_trimmed_to_about_its_length(buses: Buses) -> None:
    bus = buses.make(feed_length=100)
    await asyncio.gather(*(bus.publish(event(f"o{n % 7}", n)) for n in range(1, 1001)))
    assert 100 <= await buses.admin.xlen(buses.feed) < 300


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
            async with watcher.subscribe("o") as later:
                await publisher.publish(event("o", 4))
                assert await seqs(later, 1) == [4]
                await assert_quiet(later)
        finally:
            await publisher.close()
            await watcher.close()


async def test_the_reader_stops_promptly_whenever_it_is_closed(buses: Buses) -> None:
    """redis-py 8.1 swallows a cancel that lands while it connects; close() must not hang."""
    for ticks in range(30):
        reader = FeedReader(buses.admin, buses.feed, decode_event)
        reader.add_order("o", Subscription(0))
        reader.run_from((0, 0))
        for _ in range(ticks):  # lands the cancel at each step of connecting and reading
            await asyncio.sleep(0)
        started = time.monotonic()
        await reader.close()
        assert time.monotonic() - started < 1.0, ticks


async def test_a_failed_publish_fails_its_batch_and_the_next_one_goes_through(
    buses: Buses,
) -> None:
    bus = buses.make()
    await buses.admin.set(buses.feed, b"not a stream")
    failed = await asyncio.gather(
        bus.publish(event("a", 1)), bus.publish(event("b", 1)), return_exceptions=True
    )
    for error in failed:
        assert isinstance(error, DependencyUnavailableError) and "WRONGTYPE" not in str(error)
    await buses.admin.delete(buses.feed)
    async with bus.subscribe("a") as events:
        await bus.publish(event("a", 2))
        assert await seqs(events, 1) == [2]


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
