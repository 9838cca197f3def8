"""A watch round that fires a waiting order hands the fired job the route it priced: the
job executes it without fetching the pools again, unless its quotes expired meanwhile
(then it routes afresh). The queues are not started: each round and attempt is run by
hand, so the venue calls can be counted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.orders import OrderType
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.ports import Job
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from order_engine.engine.waiting_orders import WaitingOrders, watch_key
from tests.unit.fakes import FakeClock, ScriptedVenue

D = Decimal


@dataclass
class Stepped:
    venue: ScriptedVenue
    clock: FakeClock
    store: InMemoryOrderStore
    queue: InMemoryJobQueue
    service: OrderService
    waiting: WaitingOrders
    executor: OrderExecutor

    @property
    def fetches(self) -> int:
        return self.venue.quote_calls

    async def waiting_limit_order(self) -> str:
        request = OrderRequest(
            "SOL", "USDC", D(2), 50, OrderType.LIMIT, limit_price=D(140), time_in_force_s=600
        )
        order, _ = await self.service.submit(request)
        await self.executor.handle(Job(order.id, 1, 3))  # its own check: waits
        assert (await self.store.get(order.id)).status.value == "waiting"
        return order.id

    async def round(self) -> None:
        await self.waiting.handle_watch(Job(watch_key("SOL", "USDC"), 1, 3))


def stepped(expiries: list[int | None] | None = None) -> Stepped:
    venue = ScriptedVenue("raydium", "130", expiries=expiries or [])
    clock, store, bus = FakeClock(), InMemoryOrderStore(), InMemoryEventBus()
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    queue = InMemoryJobQueue(policy, rate_limit_max=0)
    watch_queue = InMemoryJobQueue(policy, rate_limit_max=0)
    tokens = TokenRegistry()
    service = OrderService(
        store, queue, bus, [venue], clock, tokens=tokens, max_queue_depth=100, quote_timeout_s=1
    )
    waiting = WaitingOrders(
        store, queue, watch_queue, bus, [venue], clock, tokens=tokens, check_interval_s=1,
        quote_timeout_s=1,
    )  # fmt: skip
    executor = OrderExecutor(
        store, bus, [venue], clock, policy, tokens=tokens, quote_timeout_s=1,
        waiting_orders=waiting,
    )  # fmt: skip
    return Stepped(venue, clock, store, queue, service, waiting, executor)


async def test_the_fired_job_executes_the_rounds_route_without_fetching_again() -> None:
    rig = stepped()
    order_id = await rig.waiting_limit_order()
    rig.venue.price = D(145)  # the limit is met
    before = rig.fetches
    await rig.round()
    assert rig.fetches == before + 1  # the round fetched the pair's pools once
    await rig.executor.handle(Job(order_id, 1, 3))
    assert rig.fetches == before + 1  # the fired job did not fetch them again
    events = await rig.store.events(order_id)
    assert events[-1].status.value == "confirmed"
    building = next(e for e in events if e.status.value == "building")
    assert D(building.data["amountOut"]) == D(145) * D("0.997") * 2


async def test_a_fired_job_whose_rounds_quotes_expired_routes_afresh() -> None:
    start = FakeClock().ms
    rig = stepped(expiries=[None, start + 5_000, None])  # the round's quote expires at 5 s
    order_id = await rig.waiting_limit_order()
    rig.venue.price = D(145)
    await rig.round()
    before = rig.fetches
    rig.clock.ms = start + 10_000  # the queue was slow: the round's quote expired
    await rig.executor.handle(Job(order_id, 1, 3))
    assert rig.fetches == before + 1  # routed afresh
    assert (await rig.store.get(order_id)).status.value == "confirmed"
