"""Limit orders on the in-memory queues: wait, fire when the price reaches the limit (one
shared re-quote per pair and round), never fill below the limit, expire, cancel, and the
races between them. Time that matters is a controllable clock; the queues' delayed jobs
run on short real delays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import VenueUnavailableError
from order_engine.domain.orders import OrderStatus, OrderType
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from order_engine.engine.waiting_orders import WaitingOrders, watch_key
from order_engine.venues.base import SwapTransaction
from tests.unit.fakes import FakeClock, ScriptedVenue

D = Decimal
CHECK_S = 0.02
FILLED = ["pending", "waiting", "routing", "building", "submitted", "confirmed"]


@dataclass
class LimitRig:
    raydium: ScriptedVenue
    meteora: ScriptedVenue
    clock: FakeClock
    store: InMemoryOrderStore
    queue: InMemoryJobQueue
    watch_queue: InMemoryJobQueue
    service: OrderService
    waiting: WaitingOrders

    async def submit(self, limit: str, amount: str = "2", tif_s: int = 60) -> str:
        request = OrderRequest(
            "SOL",
            "USDC",
            D(amount),
            50,
            OrderType.LIMIT,
            limit_price=D(limit),
            time_in_force_s=tif_s,
        )
        order, _ = await self.service.submit(request)
        return order.id

    async def statuses(self, order_id: str) -> list[str]:
        return [e.status.value for e in await self.store.events(order_id)]

    async def wait_for_statuses(self, order_id: str, statuses: list[str]) -> None:
        for _ in range(400):
            if await self.statuses(order_id) == statuses:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"order {order_id}: {await self.statuses(order_id)}")

    async def wait_for(self, order_id: str, status: str, timeout_s: float = 2.0) -> None:
        got = None
        for _ in range(int(timeout_s / 0.005)):
            got = (await self.store.get(order_id)).status.value
            if got == status:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"order {order_id} is {got}, not {status}")


def move_on_submit(rig: LimitRig, monkeypatch: pytest.MonkeyPatch, price: Decimal) -> None:
    """Raydium's price moves to `price` as its first swap is sent."""
    send = rig.raydium.submit

    async def submit_as_the_price_moves(tx: SwapTransaction) -> None:
        if not rig.raydium.builds[1:]:
            rig.raydium.price = price
        await send(tx)

    monkeypatch.setattr(rig.raydium, "submit", submit_as_the_price_moves)


@pytest.fixture
async def rig() -> AsyncIterator[LimitRig]:
    raydium = ScriptedVenue("raydium", "130")
    meteora = ScriptedVenue("meteora", "120", "0.002")
    venues = [raydium, meteora]
    clock, store, bus = FakeClock(), InMemoryOrderStore(), InMemoryEventBus()
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    queue = InMemoryJobQueue(policy, rate_limit_max=0)
    watch_queue = InMemoryJobQueue(policy, rate_limit_max=0)
    tokens = TokenRegistry()
    service = OrderService(
        store, queue, bus, venues, clock, tokens=tokens, max_queue_depth=100, quote_timeout_s=1
    )
    limits = WaitingOrders(
        store,
        queue,
        watch_queue,
        bus,
        venues,
        clock,
        tokens=tokens,
        check_interval_s=CHECK_S,
        quote_timeout_s=1,
    )
    executor = OrderExecutor(
        store, bus, venues, clock, policy, tokens=tokens, quote_timeout_s=1, waiting_orders=limits
    )
    await queue.start(executor.handle)
    await watch_queue.start(limits.handle_watch)
    yield LimitRig(raydium, meteora, clock, store, queue, watch_queue, service, limits)
    await queue.close(timeout_s=1)
    await watch_queue.close(timeout_s=1)


async def test_a_limit_the_market_already_pays_fills_at_once(rig: LimitRig) -> None:
    order_id = await rig.submit("120")  # raydium pays 130 × 0.997
    await rig.wait_for(order_id, "confirmed")
    assert await rig.statuses(order_id) == FILLED
    waiting = (await rig.store.events(order_id))[1]
    assert waiting.attempt == 0 and waiting.data["limitPrice"] == "120"
    assert D(waiting.data["bestPrice"]) == D("129.61")
    order = await rig.store.get(order_id)
    assert order.min_amount_out is not None and order.min_amount_out >= D(240)
    assert order.amount_out is not None and order.amount_out >= D(240)


async def test_an_order_waits_until_the_price_reaches_its_limit(rig: LimitRig) -> None:
    order_id = await rig.submit("140")
    await rig.wait_for(order_id, "waiting")
    await asyncio.sleep(CHECK_S * 4)
    assert (await rig.store.get(order_id)).status is OrderStatus.WAITING
    assert rig.raydium.builds == []
    rig.raydium.price = D("145")  # 145 × 0.997 = 144.565 ≥ 140
    await rig.wait_for(order_id, "confirmed")
    assert await rig.statuses(order_id) == FILLED
    order = await rig.store.get(order_id)
    assert order.amount_out is not None and order.amount_out >= D(280)
    assert order.attempt == 1  # waiting checks are not attempts


async def test_re_quotes_are_shared_by_every_order_waiting_on_the_pair(rig: LimitRig) -> None:
    ids = [await rig.submit(limit) for limit in ("140", "141", "142", "143", "144")]
    for order_id in ids:
        await rig.wait_for(order_id, "waiting")
    before = rig.raydium.quote_calls
    await asyncio.sleep(CHECK_S * 10)
    rounds = rig.raydium.quote_calls - before
    assert 3 <= rounds <= 12, rounds  # one quote per round for all five orders, not five
    rig.raydium.price = D("144.2")  # pays 143.77: the four lowest limits, not 144
    for order_id in ids[:4]:
        await rig.wait_for(order_id, "confirmed")
    await asyncio.sleep(CHECK_S * 3)
    assert (await rig.store.get(ids[4])).status is OrderStatus.WAITING


async def test_the_limit_is_enforced_in_the_transaction(
    rig: LimitRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fired at the limit, then the pool moves: the leg's minimum is the limit, so the swap
    reverts rather than fill below it, and the order goes back to waiting (not an attempt)
    until its limit is met again."""
    rig.raydium.price = D("140.5")  # pays 140.0785 ≥ 140
    rig.raydium.fills = [D("0.999")]  # lands 0.1% lower: below the limit floor
    move_on_submit(rig, monkeypatch, D("139"))
    order_id = await rig.submit("140")
    await rig.wait_for_statuses(order_id, [*FILLED[:-1], "waiting"])
    await asyncio.sleep(CHECK_S * 4)
    order = await rig.store.get(order_id)
    assert order.status is OrderStatus.WAITING and order.attempt == 0
    assert rig.raydium.executions() == [] and len(rig.raydium.builds) == 1
    assert [e.code for e in order.attempt_errors] == ["slippage_exceeded"]
    rig.raydium.price = D("140.5")
    await rig.wait_for(order_id, "confirmed")
    assert await rig.statuses(order_id) == FILLED[:-1] + FILLED[1:]
    events = await rig.store.events(order_id)
    assert "moved away" in events[5].data["reason"]
    assert [e.attempt for e in events] == [0, 0, 1, 1, 1, 0, 1, 1, 1, 1]
    assert len(rig.raydium.executions()) == 1 and len(rig.raydium.builds) == 2


async def test_a_route_that_no_longer_pays_the_limit_on_a_retry_waits_again(
    rig: LimitRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt fails before anything executes, and meanwhile the price moves
    away: the retry sends nothing and the order waits again, then fills at its limit."""
    rig.raydium.price = D("140.5")
    rig.raydium.submit_errors = [VenueUnavailableError("raydium is down")]
    move_on_submit(rig, monkeypatch, D("139"))
    order_id = await rig.submit("140")
    await rig.wait_for_statuses(order_id, [*FILLED[:-1], "waiting"])
    order = await rig.store.get(order_id)
    assert [e.code for e in order.attempt_errors] == ["venue_unavailable", "slippage_exceeded"]
    assert "below the limit 140" in order.attempt_errors[-1].message
    assert len(rig.raydium.builds) == 1 and rig.raydium.executions() == []
    rig.raydium.price = D("141")
    await rig.wait_for(order_id, "confirmed")
    assert len(rig.raydium.executions()) == 1


async def test_an_order_expires_when_its_time_runs_out(rig: LimitRig) -> None:
    order_id = await rig.submit("140", tif_s=30)
    await rig.wait_for(order_id, "waiting")
    rig.clock.ms += 30_000
    await rig.wait_for(order_id, "expired")
    assert await rig.statuses(order_id) == ["pending", "waiting", "expired"]
    rig.raydium.price = D("200")
    await asyncio.sleep(CHECK_S * 3)
    assert rig.raydium.builds == [] and (await rig.store.waiting("SOL", "USDC")) == []


async def test_a_cancelled_order_never_fires(rig: LimitRig) -> None:
    order_id = await rig.submit("140")
    await rig.wait_for(order_id, "waiting")
    await rig.service.cancel(order_id)
    rig.raydium.price = D("200")
    await asyncio.sleep(CHECK_S * 4)
    assert await rig.statuses(order_id) == ["pending", "waiting", "cancelled"]
    assert rig.raydium.builds == []


async def test_cancel_after_the_trigger_but_before_routing_wins(rig: LimitRig) -> None:
    order_id = await rig.submit("140")
    await rig.wait_for(order_id, "waiting")
    rig.raydium.quote_gate = asyncio.Event()  # the next check stops before pricing
    rig.raydium.price = D("200")
    await rig.queue.enqueue(order_id)  # what the watch job does when the limit is met
    async with asyncio.timeout(1):
        await rig.raydium.quote_started.wait()
    await rig.service.cancel(order_id)
    rig.raydium.quote_gate.set()
    await asyncio.sleep(CHECK_S * 3)
    assert await rig.statuses(order_id) == ["pending", "waiting", "cancelled"]
    assert rig.raydium.builds == []


async def test_expiry_before_the_fired_job_runs_wins(rig: LimitRig) -> None:
    order_id = await rig.submit("140", tif_s=30)
    await rig.wait_for(order_id, "waiting")
    await rig.watch_queue.close(timeout_s=1)  # no watcher: only the fired job decides
    rig.raydium.price = D("200")
    rig.clock.ms += 31_000
    await rig.queue.enqueue(order_id)
    await rig.wait_for(order_id, "expired")
    assert rig.raydium.builds == []


async def test_waiting_orders_without_a_watch_job_are_recovered(rig: LimitRig) -> None:
    order_id = await rig.submit("140")
    await rig.wait_for(order_id, "waiting")
    await rig.watch_queue.close(timeout_s=1)  # the watch job is gone (e.g. Redis lost it)
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    rig.waiting._watch_queue = fresh = InMemoryJobQueue(policy, rate_limit_max=0)
    await fresh.start(rig.waiting.handle_watch)
    rig.raydium.price = D("150")
    assert await rig.waiting.recover() == 1
    assert not await fresh.enqueue(watch_key("SOL", "USDC"))  # already watched
    await rig.wait_for(order_id, "confirmed")
    await fresh.close(timeout_s=1)


async def test_a_waiting_orders_best_price_is_refreshed_at_most_every_30_s(rig: LimitRig) -> None:
    order_id = await rig.submit("140")
    await rig.wait_for(order_id, "waiting")
    assert (await rig.store.get(order_id)).best_price == D("129.61")
    rig.raydium.price = D("135")  # pays 134.595: closer, still short of 140
    await asyncio.sleep(CHECK_S * 5)
    assert (await rig.store.get(order_id)).best_price == D("129.61")  # not yet: throttled
    rig.clock.ms += 30_000
    for _ in range(100):
        if (await rig.store.get(order_id)).best_price == D("134.595"):
            break
        await asyncio.sleep(0.005)
    order = await rig.store.get(order_id)
    assert order.best_price == D("134.595") and order.status.value == "waiting"
    assert order.checked_ms is not None and order.checked_ms >= rig.clock.ms - 1_000
