"""Sniper orders on the in-memory adapters and the simulated venues: they wait for a token
that does not trade yet, and the launch that opens its pool fires them at once (before the
launch call returns), in submission order, on the venue they asked for and within their
price cap."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_launches import InMemoryLaunchBoard
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.api.schemas import order_view
from order_engine.domain.errors import AlreadyLaunchedError, RequestError
from order_engine.domain.launches import LaunchRequest
from order_engine.domain.orders import Order, OrderType
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from order_engine.engine.waiting_orders import WaitingOrders
from order_engine.venues.sim.simulated import apply_launch, simulated_venues
from tests.unit.fakes import FakeClock

D = Decimal
FILLED = ["pending", "waiting", "routing", "building", "submitted", "confirmed"]
_serial = itertools.count(1)


class RecordingQueue(InMemoryJobQueue):
    """Remembers the order in which jobs were queued."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(policy, rate_limit_max=0)
        self.enqueued: list[str] = []

    async def enqueue(
        self, order_id: str, *, delay_s: float = 0.0, new: bool = False, order: Order | None = None
    ) -> bool:
        self.enqueued.append(order_id)
        return await super().enqueue(order_id, delay_s=delay_s, order=order)


@dataclass
class SniperRig:
    store: InMemoryOrderStore
    queue: RecordingQueue
    service: OrderService
    launches: TokenLaunches
    symbol: str

    async def snipe(
        self, venue: str | None = "raydium", max_price: str | None = None, token_in: str = "SOL"
    ) -> str:
        request = OrderRequest(
            token_in,
            self.symbol,
            D("1"),
            300,
            OrderType.SNIPER,
            venue=venue,
            max_price=None if max_price is None else D(max_price),
        )
        order, _ = await self.service.submit(request)
        return order.id

    async def status(self, order_id: str) -> str:
        return (await self.store.get(order_id)).status.value

    async def wait_for(self, order_id: str, status: str) -> None:
        for _ in range(400):
            if await self.status(order_id) == status:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"order {order_id} is {await self.status(order_id)}, not {status}")

    def launch(self, venue: str = "raydium", price: str = "0.001") -> LaunchRequest:
        return LaunchRequest(self.symbol, venue, D(price))


@pytest.fixture
async def rig() -> AsyncIterator[SniperRig]:
    tokens = TokenRegistry()  # this rig's engine's: its launches leak into no other test
    venues = simulated_venues(seed=3, latency_scale=0, tokens=tokens)
    clock, store, bus = FakeClock(), InMemoryOrderStore(), InMemoryEventBus()
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    queue, watch_queue = RecordingQueue(policy), InMemoryJobQueue(policy, rate_limit_max=0)
    service = OrderService(
        store, queue, bus, venues, clock, tokens=tokens, max_queue_depth=100, quote_timeout_s=1
    )
    waiting = WaitingOrders(
        store,
        queue,
        watch_queue,
        bus,
        venues,
        clock,
        tokens=tokens,
        check_interval_s=0.02,
        quote_timeout_s=1,
    )
    executor = OrderExecutor(
        store, bus, venues, clock, policy, tokens=tokens, quote_timeout_s=1, waiting_orders=waiting
    )
    launches = TokenLaunches(
        InMemoryLaunchBoard(),
        waiting,
        clock,
        tokens=tokens,
        venues=[v.name for v in venues],
        open_pools=partial(apply_launch, venues),
        new_mint=lambda: f"Mint{next(_serial)}",
    )
    await launches.start()
    await queue.start(executor.handle)
    await watch_queue.start(waiting.handle_watch)
    yield SniperRig(store, queue, service, launches, f"SNP{next(_serial)}")
    await queue.close(timeout_s=1)
    await watch_queue.close(timeout_s=1)


async def test_three_snipers_wait_then_fire_on_the_launch_in_submission_order(
    rig: SniperRig,
) -> None:
    ids = [await rig.snipe() for _ in range(3)]
    for order_id in ids:
        await rig.wait_for(order_id, "waiting")
    rig.queue.enqueued.clear()
    await rig.launches.launch(rig.launch())
    assert rig.queue.enqueued == ids  # queued before the launch call returned, in order
    for order_id in ids:
        await rig.wait_for(order_id, "confirmed")
        events = await rig.store.events(order_id)
        assert [e.status.value for e in events] == FILLED
        assert events[1].data["token"] == rig.symbol and events[1].data["venue"] == "raydium"
        assert events[2].attempt == 1
    orders = [await rig.store.get(i) for i in ids]
    assert all(o.dex == "raydium" and o.amount_out and o.amount_out > 0 for o in orders)


async def test_a_sniper_over_its_cap_keeps_waiting(rig: SniperRig) -> None:
    too_cheap = await rig.snipe(max_price="0.0005")  # the pool opens at 0.001 SOL/token
    any_venue = await rig.snipe(venue=None, max_price="0.002")
    for order_id in (too_cheap, any_venue):
        await rig.wait_for(order_id, "waiting")
    await rig.launches.launch(rig.launch())
    await rig.wait_for(any_venue, "confirmed")
    await asyncio.sleep(0.1)  # several watch rounds
    assert await rig.status(too_cheap) == "waiting"
    order = await rig.store.get(any_venue)
    assert order.amount_out is not None and order.amount_out >= D(1) / D("0.002")


async def test_a_cancelled_sniper_never_fires(rig: SniperRig) -> None:
    order_id = await rig.snipe()
    await rig.wait_for(order_id, "waiting")
    await rig.service.cancel(order_id)
    await rig.launches.launch(rig.launch())
    await asyncio.sleep(0.05)
    assert [e.status.value for e in await rig.store.events(order_id)] == [
        "pending",
        "waiting",
        "cancelled",
    ]


async def test_a_launch_is_validated_and_happens_once(rig: SniperRig) -> None:
    with pytest.raises(RequestError) as caught:
        await rig.launches.launch(rig.launch(venue="orca"))
    assert caught.value.field == "venue"
    with pytest.raises(RequestError) as caught:
        await rig.launches.launch(rig.launch(price="0"))
    assert caught.value.field == "price"
    await rig.launches.launch(rig.launch())
    with pytest.raises(AlreadyLaunchedError):
        await rig.launches.launch(rig.launch(venue="meteora"))
    with pytest.raises(AlreadyLaunchedError):
        await rig.launches.launch(LaunchRequest("USDC", "raydium", D(1)))
    assert [launch.symbol for launch in await rig.launches.launches()] == [rig.symbol]


async def test_a_sniper_paying_a_token_with_no_direct_pool_routes_through_sol(
    rig: SniperRig,
) -> None:
    """The token launches against SOL: a sniper paying USDC (no direct pool) routes in two
    hops through SOL when the launch fires it, as does a market order for the pair; a
    sniper for the venue without any pool for the token fails with `no_route` at once,
    instead of waiting forever."""
    usdc = await rig.snipe(token_in="USDC", venue=None)
    other_venue = await rig.snipe(venue="meteora")
    sol = await rig.snipe()
    for order_id in (usdc, other_venue, sol):
        await rig.wait_for(order_id, "waiting")
    await rig.launches.launch(rig.launch())
    await rig.wait_for(sol, "confirmed")
    await rig.wait_for(usdc, "confirmed")
    assert [(leg.hop, leg.via) for leg in (await rig.store.get(usdc)).legs] == [
        (1, "SOL"),
        (2, "SOL"),
    ]
    await rig.wait_for(other_venue, "failed")
    order = await rig.store.get(other_venue)
    assert order.error is not None and order.error.code == "no_route"
    assert len(order.attempt_errors) == 1  # at once, not retried
    market, _ = await rig.service.submit(OrderRequest("USDC", rig.symbol, D("1"), 300))
    await rig.wait_for(market.id, "confirmed")
    assert {leg.via for leg in (await rig.store.get(market.id)).legs} == {"SOL"}


async def test_a_sniper_on_a_venue_without_its_tokens_pool_fails_at_once(
    rig: SniperRig,
) -> None:
    await rig.launches.launch(rig.launch())
    order_id = await rig.snipe(token_in="USDC", venue="meteora")
    await rig.wait_for(order_id, "failed")
    order = await rig.store.get(order_id)
    assert order.error is not None and order.error.code == "no_route"


async def test_a_snipers_prices_are_all_in_its_caps_convention(rig: SniperRig) -> None:
    """`maxPrice`, `bestPrice` and `executedPrice` of a sniper order all count what one
    token costs in tokenIn (SOL per token), on its events and on GET."""
    await rig.launches.launch(rig.launch(price="0.001"))  # 0.001 SOL per token
    order_id = await rig.snipe(venue=None, max_price="0.002")
    await rig.wait_for(order_id, "confirmed")
    order = await rig.store.get(order_id)
    events = await rig.store.events(order_id)
    waiting, confirmed = events[1].data, events[-1].data
    assert order.amount_out is not None
    paid = order.amount_in / order.amount_out  # SOL per token, fees included
    assert D("0.001") < paid < D("0.002")
    assert D(waiting["bestPrice"]) < D(waiting["maxPrice"]) == D("0.002")
    assert abs(D(waiting["bestPrice"]) / paid - 1) < D("0.05")  # a quote, then the fill
    assert abs(D(confirmed["executedPrice"]) - paid) < D("1e-12")
    assert confirmed["legs"][0]["executedPrice"] == confirmed["executedPrice"]
    view = order_view(order, "ws://x")
    assert view["executedPrice"] == confirmed["executedPrice"]
    assert view["legs"][0]["executedPrice"] == confirmed["executedPrice"]
    assert D(view["bestPrice"]) < D(view["maxPrice"])
