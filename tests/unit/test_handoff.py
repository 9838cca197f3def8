"""`JustCreated`: the executor's first run of an order this process just stored does not
read it back; a copy gone stale (cancelled meanwhile) ends as the store says."""

from __future__ import annotations

from decimal import Decimal

from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.orders import Order, OrderStatus
from order_engine.engine.handoff import JustCreated
from order_engine.engine.ports import Job
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from tests.unit.fakes import Rig, ScriptedVenue

SOL_USDC = OrderRequest("SOL", "USDC", Decimal("1.5"))


class CountingStore(InMemoryOrderStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, order_id: str) -> Order:
        self.gets += 1
        return await super().get(order_id)


def rig_with_handoff() -> tuple[Rig, OrderService, CountingStore, ScriptedVenue]:
    store, handoff, venue = CountingStore(), JustCreated(), ScriptedVenue("raydium", "150")
    rig = Rig([venue], store=store, handoff=handoff)
    queue = InMemoryJobQueue(RetryPolicy(), rate_limit_max=0)
    service = OrderService(store, queue, rig.bus, rig.venues, rig.clock, tokens=rig.tokens,
                           max_queue_depth=100, quote_timeout_s=5.0, handoff=handoff)  # fmt: skip
    return rig, service, store, venue


async def test_the_first_run_of_a_just_created_order_does_not_read_it_back() -> None:
    rig, service, store, _ = rig_with_handoff()
    order, _ = await service.submit(SOL_USDC)
    await rig.executor.handle(Job(order.id, 1, 3))
    assert store.gets == 0
    assert [s for s, _ in await rig.statuses(order.id)][-1] == "confirmed"
    assert order.status is OrderStatus.PENDING  # the caller's copy is not the executor's


async def test_a_handed_order_cancelled_meanwhile_is_not_executed() -> None:
    rig, service, _, venue = rig_with_handoff()
    order, _ = await service.submit(SOL_USDC)
    await service.cancel(order.id)
    await rig.executor.handle(Job(order.id, 1, 3))
    assert [s for s, _ in await rig.statuses(order.id)] == ["pending", "cancelled"]
    # the stale copy's first transition lost the race: its quotes (read while that write
    # went to the store) were never used, nothing was built or sent
    assert not venue.build_started.is_set()


def test_the_handoff_keeps_the_newest_orders_up_to_its_limit() -> None:
    handoff = JustCreated(limit=2)
    orders = [Order(f"o{i}", "SOL", "USDC", Decimal(1), 50, 0) for i in range(3)]
    for order in orders:
        handoff.put(order)
    assert len(handoff) == 2 and handoff.take("o0") is None
    taken = handoff.take("o2")
    assert taken is not None and taken is not orders[2] and taken.id == "o2"
    assert handoff.take("o2") is None  # taken once
