"""The live feed of a caller's orders (engine side), its tokens, and the queue activity the
feed of every order's events shows."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.accounts import Principal, Scope
from order_engine.domain.errors import DependencyUnavailableError, UnauthenticatedError
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.domain.stream_tokens import StreamTokens
from order_engine.engine.activity import QueueActivity
from order_engine.engine.feed import FeedItem, FeedView, OrderFeed
from tests.unit.fakes import FakeClock

ALICE = Principal("alice", "k1", Scope.TRADE, admin=False)
BOB = Principal("bob", "k2", Scope.READ, admin=False)
ADMIN = Principal("ops", "k3", Scope.ADMIN, admin=True)


class CountingStore(InMemoryOrderStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.down = False

    async def get(self, order_id: str) -> Order:
        self.reads += 1
        await asyncio.sleep(0)
        if self.down:
            raise DependencyUnavailableError("database down")
        return await super().get(order_id)


async def new_order(store: InMemoryOrderStore, order_id: str, account: str) -> OrderEvent:
    order = Order(
        id=order_id,
        token_in="SOL",
        token_out="USDC",
        amount_in=Decimal("1.5"),
        slippage_bps=50,
        created_ms=1,
        account_id=account,
    )
    event = order.start()
    await store.create(order, event)
    return event


async def take(view: FeedView, count: int) -> list[FeedItem]:
    got: list[FeedItem] = []
    async with asyncio.timeout(2):
        async for item in view:
            got.append(item)
            if len(got) == count:
                break
    return got


async def test_a_caller_sees_its_accounts_orders_and_an_admin_all() -> None:
    store, bus = CountingStore(), InMemoryEventBus()
    feed = OrderFeed(store, bus)
    async with (
        feed.follow(ALICE) as alice,
        feed.follow(BOB) as bob,
        feed.follow(ADMIN) as admin,
        feed.follow(None) as anyone,
    ):
        for order_id, account in (("a1", "alice"), ("b1", "bob"), ("a2", "alice")):
            await bus.publish(await new_order(store, order_id, account))
        assert [i.order.order_id for i in await take(alice, 2)] == ["a1", "a2"]
        assert [i.order.order_id for i in await take(bob, 1)] == ["b1"]
        assert [i.order.order_id for i in await take(admin, 3)] == ["a1", "b1", "a2"]
        assert len(await take(anyone, 3)) == 3
    assert store.reads == 3  # one read per order, shared by every follower


async def test_the_summary_says_what_never_changes_and_unknown_orders_are_skipped() -> None:
    store, bus = CountingStore(), InMemoryEventBus()
    feed = OrderFeed(store, bus)
    async with feed.follow(ADMIN) as view:
        await bus.publish(OrderEvent("gone", 1, OrderStatus.PENDING, ts_ms=1, attempt=0))
        await bus.publish(await new_order(store, "a1", "alice"))
        (item,) = await take(view, 1)
    assert item.order.order_id == "a1" and item.order.account_id == "alice"
    assert item.order.token_in == "SOL" and item.order.amount_in == Decimal("1.5")
    assert item.event.seq == 1 and item.id.count("-") == 1


async def test_the_owner_cache_is_bounded() -> None:
    store = CountingStore()
    feed = OrderFeed(store, InMemoryEventBus(), cache_size=2)
    for n in range(3):
        await new_order(store, f"o{n}", "alice")
        await feed.summary(f"o{n}")
    await feed.summary("o2")
    assert store.reads == 3
    await feed.summary("o0")  # evicted
    assert store.reads == 4


async def test_concurrent_lookups_share_one_read_and_its_failure() -> None:
    store = CountingStore()
    feed = OrderFeed(store, InMemoryEventBus())
    await new_order(store, "o1", "alice")
    store.down = True
    results = await asyncio.gather(*(feed.summary("o1") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, DependencyUnavailableError) for r in results)
    assert store.reads == 1
    store.down = False
    found = await feed.summary("o1")
    assert found is not None and found.account_id == "alice"


def test_feed_tokens_act_for_their_key_until_they_expire() -> None:
    tokens = StreamTokens(b"s" * 32, ttl_s=60)
    token = tokens.issue_feed(ALICE, now_ms=1_000)
    assert tokens.check_feed(token, now_ms=60_999) == ALICE
    with pytest.raises(UnauthenticatedError, match="expired"):
        tokens.check_feed(token, now_ms=61_000)
    forged = token.replace(".trade.0.", ".admin.1.")
    with pytest.raises(UnauthenticatedError, match="not valid"):
        tokens.check_feed(forged, now_ms=2_000)
    with pytest.raises(UnauthenticatedError, match="not valid"):
        StreamTokens(b"t" * 32).check_feed(token, now_ms=2_000)
    order_token = tokens.issue("1" * 8, now_ms=1_000)
    with pytest.raises(UnauthenticatedError, match="malformed"):
        tokens.check_feed(order_token, now_ms=2_000)


def event(order_id: str, status: OrderStatus, seq: int = 1) -> OrderEvent:
    return OrderEvent(order_id, seq, status, ts_ms=1, attempt=1)


def test_queue_activity_counts_in_flight_starts_and_finishes() -> None:
    clock = FakeClock()
    activity = QueueActivity(clock, window_s=10)
    for order_id in ("a", "b", "c"):
        activity.observe(event(order_id, OrderStatus.PENDING))
        activity.observe(event(order_id, OrderStatus.ROUTING, 2))
    activity.observe(event("a", OrderStatus.BUILDING, 3))
    activity.observe(event("a", OrderStatus.CONFIRMED, 4))
    activity.observe(event("b", OrderStatus.WAITING, 3))  # a fired limit order waits again
    seen = activity.snapshot()
    assert (seen.in_flight, seen.started_in_window, seen.finished_last_minute) == (1, 3, 1)
    clock.ms += 11_000  # past the rate limit's window, within the minute
    seen = activity.snapshot()
    assert (seen.started_in_window, seen.finished_last_minute) == (0, 1)
    clock.ms += 60_000
    assert activity.snapshot().finished_last_minute == 0
    clock.ms += 15 * 60_000  # an order silent in flight that long is no longer counted
    assert activity.snapshot().in_flight == 0


async def test_queue_activity_follows_the_bus_until_it_closes() -> None:
    bus = InMemoryEventBus()
    activity = QueueActivity(FakeClock(), window_s=60)
    task = asyncio.create_task(activity.run(bus))
    await asyncio.sleep(0)
    await bus.publish(event("a", OrderStatus.ROUTING, 2))
    await asyncio.sleep(0)
    assert activity.snapshot().in_flight == 1
    await bus.close()
    async with asyncio.timeout(1):
        await task
