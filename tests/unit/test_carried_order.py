"""A job carries the order it was queued for to its first delivery (`Job.order`): the
executor's first run of an order does not read it back; a copy gone stale (cancelled
meanwhile) ends as the store says; later deliveries read the store."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.order_json import order_from_json, order_to_json
from order_engine.domain.legs import Leg, LegState
from order_engine.domain.orders import Order, OrderError, OrderStatus, OrderType
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


class RecordingQueue(InMemoryJobQueue):
    """Keeps the first delivery of each job instead of running it."""

    def __init__(self) -> None:
        super().__init__(RetryPolicy(), rate_limit_max=0)
        self.jobs: list[Job] = []

    async def take(self) -> Job:
        taken = asyncio.Event()

        async def record(job: Job) -> None:
            self.jobs.append(job)
            taken.set()

        await self.start(record)
        await taken.wait()
        return self.jobs[0]


def rig() -> tuple[Rig, OrderService, CountingStore, ScriptedVenue, RecordingQueue]:
    store, venue, queue = CountingStore(), ScriptedVenue("raydium", "150"), RecordingQueue()
    rig = Rig([venue], store=store)
    service = OrderService(store, queue, rig.bus, rig.venues, rig.clock, tokens=rig.tokens,
                           max_queue_depth=100, quote_timeout_s=5.0)  # fmt: skip
    return rig, service, store, venue, queue


async def test_the_first_run_of_a_just_created_order_does_not_read_it_back() -> None:
    rig_, service, store, _, queue = rig()
    order, _ = await service.submit(SOL_USDC)
    job = await queue.take()
    assert job.order is not None and job.order is not order  # a copy: the caller keeps its own
    await rig_.executor.handle(job)
    assert store.gets == 0
    assert [s for s, _ in await rig_.statuses(order.id)][-1] == "confirmed"
    assert order.status is OrderStatus.PENDING
    await queue.close()


async def test_a_carried_order_cancelled_meanwhile_is_not_executed() -> None:
    rig_, service, _, venue, queue = rig()
    order, _ = await service.submit(SOL_USDC)
    job = await queue.take()
    await service.cancel(order.id)
    await rig_.executor.handle(job)
    assert [s for s, _ in await rig_.statuses(order.id)] == ["pending", "cancelled"]
    # the stale copy's first transition lost the race: its quotes (read while that write
    # went to the store) were never used, nothing was built or sent
    assert not venue.build_started.is_set()
    await queue.close()


async def test_a_job_without_its_order_reads_the_store() -> None:
    rig_, service, store, _, queue = rig()
    order, _ = await service.submit(SOL_USDC)
    await rig_.executor.handle(Job(order.id, 1, 3))
    assert store.gets == 1
    assert [s for s, _ in await rig_.statuses(order.id)][-1] == "confirmed"
    await queue.close()


def test_an_order_survives_its_json_form() -> None:
    order = Order("o1", "SOL", "USDC", Decimal("1.000000001"), 50, 1_700_000_000_000,
                  type=OrderType.LIMIT, account_id="a1", client_order_id="c1",
                  limit_price=Decimal("150.25"), expires_ms=1_700_000_600_000,
                  max_price_impact_bps=300)  # fmt: skip
    order.status, order.seq, order.attempt = OrderStatus.SUBMITTED, 4, 2
    order.record_attempt_error(OrderError("slippage_exceeded", "moved", 1, 5))
    order.legs = [Leg("raydium", "sig1", Decimal("0.5"), Decimal("74.1"), 2, LegState.SENT)]
    raw = order_to_json(order)
    assert raw["amount_in"] == "1.000000001" and raw["limit_price"] == "150.25"
    assert order_from_json(raw) == order
