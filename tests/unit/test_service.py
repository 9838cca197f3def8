"""`OrderService` with in-memory adapters: submit, idempotency, capacity, cancel races,
gap-free streams and recovery."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import (
    CapacityError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    NotCancellableError,
    OrderNotFoundError,
    RequestError,
    SameTokenError,
    UnknownTokenError,
)
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.engine.ports import Job
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from tests.event_samples import payload_for
from tests.unit.fakes import Rig, ScriptedVenue

D = Decimal
S = OrderStatus
SOL_USDC = OrderRequest("SOL", "USDC", D("1.5"))


class Setup:
    """A service and an executor sharing one in-memory store, bus and clock."""

    def __init__(
        self,
        *,
        max_depth: int = 100,
        fills: tuple[str, ...] = (),
        store: InMemoryOrderStore | None = None,
        auto_land: bool = True,
    ) -> None:
        self.raydium = ScriptedVenue("raydium", "150", fills=fills, auto_land=auto_land)
        self.meteora = ScriptedVenue("meteora", "140", "0.002")
        self.rig = Rig([self.raydium, self.meteora], store=store or InMemoryOrderStore())
        self.store, self.executor = self.rig.store, self.rig.executor
        self.queue = InMemoryJobQueue(
            RetryPolicy(backoff_base_s=0.01), rate_limit_max=0, max_depth=max_depth
        )
        self.service = self.service_on(self.queue, max_depth)

    def service_on(self, queue: InMemoryJobQueue, max_depth: int = 100) -> OrderService:
        return OrderService(
            self.store,
            queue,
            self.rig.bus,
            self.rig.venues,
            self.rig.clock,
            tokens=self.rig.tokens,
            max_queue_depth=max_depth,
            quote_timeout_s=5.0,
        )

    async def order_id(self, request: OrderRequest = SOL_USDC) -> str:
        order, created = await self.service.submit(request)
        assert created
        return order.id

    async def stored(self) -> list[Order]:
        return (await self.store.list(status=None, limit=100, cursor=None)).items

    async def statuses(self, order_id: str) -> list[str]:
        return [s for s, _ in await self.rig.statuses(order_id)]


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount", "error", "field"),
    [
        ("DOGE", "USDC", "1", UnknownTokenError, "tokenIn"),
        ("SOL", "DOGE", "1", UnknownTokenError, "tokenOut"),
        ("SOL", "WSOL", "1", SameTokenError, "tokenOut"),
        ("wsol", "sol", "1", SameTokenError, "tokenOut"),
        ("USDC", "SOL", "1.0000001", RequestError, "amountIn"),
        ("SOL", "USDC", "0", RequestError, "amountIn"),
        ("SOL", "USDC", "-2", RequestError, "amountIn"),
    ],
)
async def test_submit_rejects_bad_input_naming_the_field(
    token_in: str, token_out: str, amount: str, error: type[Exception], field: str
) -> None:
    setup = Setup()
    with pytest.raises(error) as caught:
        await setup.service.submit(OrderRequest(token_in, token_out, D(amount)), "key")
    assert getattr(caught.value, "field", None) == field
    assert await setup.stored() == [] and await setup.queue.depth() == 0


async def test_submit_persists_queues_and_publishes_the_pending_event() -> None:
    setup = Setup()
    order, created = await setup.service.submit(OrderRequest("sol", "usdc", D("1.5")))
    assert created and (order.token_in, order.token_out, order.status) == ("SOL", "USDC", S.PENDING)
    assert [(e.seq, e.status, e.attempt) for e in await setup.store.events(order.id)] == [
        (1, S.PENDING, 0)
    ]
    assert await setup.queue.depth() == 1


async def test_idempotency_key_replays_the_same_order_and_refuses_another_body() -> None:
    setup = Setup()
    first, created = await setup.service.submit(SOL_USDC, "key-1")
    again, replayed = await setup.service.submit(OrderRequest("sol", "usdc", D("1.50")), "key-1")
    assert (created, replayed) == (True, False) and again.id == first.id
    with pytest.raises(IdempotencyConflictError) as caught:
        await setup.service.submit(OrderRequest("SOL", "USDC", D("2")), "key-1")
    assert caught.value.field == "Idempotency-Key"
    other, _ = await setup.service.submit(SOL_USDC)  # no key: a new order
    assert other.id != first.id
    assert len(await setup.stored()) == 2 and await setup.queue.depth() == 2


async def test_a_full_queue_refuses_the_order_and_stores_nothing() -> None:
    setup = Setup(max_depth=1)
    first, _ = await setup.service.submit(SOL_USDC, "key-1")
    with pytest.raises(CapacityError) as caught:
        await setup.service.submit(OrderRequest("SOL", "USDT", D("1")), "key-2")
    assert caught.value.retry_after_s >= 1
    assert [o.id for o in await setup.stored()] == [first.id]
    replay, created = await setup.service.submit(SOL_USDC, "key-1")  # replays still answer
    assert replay.id == first.id and not created


class _YieldingStore(InMemoryOrderStore):
    """Like a real database: `create` gives the event loop a turn."""

    async def create(self, order: Order, event: OrderEvent) -> None:
        await asyncio.sleep(0)
        await super().create(order, event)


async def test_concurrent_submits_at_capacity_never_store_a_refused_order() -> None:
    setup = Setup(max_depth=1, store=_YieldingStore())
    results = await asyncio.gather(
        setup.service.submit(SOL_USDC), setup.service.submit(SOL_USDC), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, CapacityError) for r in results if r not in accepted)
    assert len(await setup.stored()) == len(accepted)


async def test_cancel_while_pending_stops_the_job_before_any_venue() -> None:
    setup = Setup()
    order_id = await setup.order_id()
    cancelled = await setup.service.cancel(order_id)
    assert cancelled.status is S.CANCELLED
    await setup.executor.handle(Job(order_id, 1, 3))
    assert setup.raydium.quote_calls == setup.meteora.quote_calls == 0
    assert await setup.statuses(order_id) == ["pending", "cancelled"]
    with pytest.raises(NotCancellableError):
        await setup.service.cancel(order_id)


@pytest.mark.parametrize("stage", ["routing", "building"])
async def test_cancel_mid_attempt_wins_and_nothing_is_submitted(stage: str) -> None:
    setup = Setup()
    gate = asyncio.Event()
    started = setup.raydium.quote_started if stage == "routing" else setup.raydium.build_started
    if stage == "routing":
        setup.raydium.quote_gate = gate
    else:
        setup.raydium.build_gate = gate
    order_id = await setup.order_id()
    attempt = asyncio.create_task(setup.executor.handle(Job(order_id, 1, 3)))
    async with asyncio.timeout(2):
        await started.wait()
    assert (await setup.service.cancel(order_id)).status is S.CANCELLED
    gate.set()
    await attempt  # returns: the race is lost to a terminal status, nothing to retry
    assert setup.raydium.submits == setup.meteora.submits == []
    history = ["pending", "routing"] + (["building"] if stage == "building" else [])
    assert await setup.statuses(order_id) == [*history, "cancelled"]
    assert (await setup.store.get(order_id)).status is S.CANCELLED


async def test_cancel_after_submitted_is_refused_and_the_swap_confirms() -> None:
    setup = Setup(auto_land=False)
    order_id = await setup.order_id()
    attempt = asyncio.create_task(setup.executor.handle(Job(order_id, 1, 3)))
    async with asyncio.timeout(2):
        await setup.raydium.confirm_waiting.wait()
    with pytest.raises(NotCancellableError):
        await setup.service.cancel(order_id)
    setup.raydium.land_all()
    await attempt
    assert await setup.statuses(order_id) == [
        "pending",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]


async def _collect(
    service: OrderService, store: InMemoryOrderStore, order_id: str, after: int, turns: int
) -> tuple[int, int, list[OrderEvent]]:
    """Join after `turns` loop turns; return `after`, how many events existed then, and
    the stream."""
    for _ in range(turns):
        await asyncio.sleep(0)
    joined_at = len(await store.events(order_id))
    return after, joined_at, [event async for event in service.stream(order_id, after)]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_streams_joining_at_any_point_get_every_event_once_in_order(seed: int) -> None:
    setup = Setup(fills=("0.9", "1"))  # attempt 1 reverts: the stream spans a retry
    order_id = await setup.order_id()
    rng = random.Random(seed)
    async with asyncio.timeout(10):
        streams = [
            asyncio.create_task(
                _collect(
                    setup.service, setup.store, order_id, rng.randint(0, 4), rng.randint(0, 24)
                )
            )
            for _ in range(16)
        ]
        await asyncio.sleep(0)
        assert len(await setup.rig.run(order_id)) == 1  # one retry
        streams += [
            asyncio.create_task(_collect(setup.service, setup.store, order_id, after, 0))
            for after in (0, 3, 4)
        ]
        results = await asyncio.gather(*streams)
    stored = await setup.store.events(order_id)
    assert [e.status for e in stored][-1] is S.CONFIRMED
    for after, _, got in results:
        assert got == stored[after:], after
        assert got[-1].is_terminal
    assert any(0 < joined < len(stored) for _, joined, _ in results)  # some joined midway
    assert setup.rig.bus.subscriber_count(order_id) == 0


async def test_stream_of_an_unknown_or_malformed_order_fails_clearly() -> None:
    setup = Setup()
    with pytest.raises(OrderNotFoundError):
        await anext(setup.service.stream("0b6f1f3e-9d1c-4a36-9a51-7f2b8c1d2e3f"))
    with pytest.raises(RequestError):
        await anext(setup.service.stream("not-a-uuid"))


async def test_a_stream_resumed_after_the_terminal_event_ends_at_once() -> None:
    setup = Setup()
    order_id = await setup.order_id()
    await setup.rig.run(order_id)
    async with asyncio.timeout(0.5):  # cancelling unwinds the generator's subscription
        assert [event async for event in setup.service.stream(order_id, after=5)] == []


async def _advance(store: InMemoryOrderStore, order_id: str, *statuses: OrderStatus) -> None:
    order = await store.get(order_id)
    for status in statuses:
        event = order.apply(payload_for(status), ts_ms=order.created_ms, attempt=1)
        await store.append(order, event)


async def test_recover_requeues_each_unfinished_order_once() -> None:
    setup = Setup()
    pending, submitted, confirmed, cancelled = [await setup.order_id() for _ in range(4)]
    await _advance(setup.store, submitted, S.ROUTING, S.BUILDING, S.SUBMITTED)
    await setup.executor.handle(Job(confirmed, 1, 3))
    await setup.service.cancel(cancelled)
    fresh_queue = InMemoryJobQueue(RetryPolicy(backoff_base_s=0.01), rate_limit_max=0)
    service = setup.service_on(fresh_queue)  # the old queue's jobs are lost
    assert await service.recover() == 2
    assert await service.recover() == 0  # ids dedupe
    assert await fresh_queue.depth() == 2
    await fresh_queue.start(setup.executor.handle)
    async with asyncio.timeout(5):
        await fresh_queue.join()
    await fresh_queue.close()
    for order_id in (pending, submitted, confirmed):
        assert (await setup.store.get(order_id)).status is S.CONFIRMED
    assert await setup.statuses(cancelled) == ["pending", "cancelled"]
    assert len(setup.raydium.executions()) == 3


class _LossyBus(InMemoryEventBus):
    """A bus whose publishes fail (Redis down): the events are committed, never fanned out."""

    async def publish(self, event: OrderEvent) -> None:
        raise DependencyUnavailableError("Redis is unavailable (publishing)")


async def test_lost_publishes_neither_fail_the_order_nor_hang_its_stream() -> None:
    store, bus = InMemoryOrderStore(), _LossyBus()
    rig = Rig([ScriptedVenue("raydium", "150")], store=store, bus=bus)
    queue = InMemoryJobQueue(RetryPolicy(backoff_base_s=0.01), rate_limit_max=0)
    service = OrderService(
        store,
        queue,
        bus,
        rig.venues,
        rig.clock,
        tokens=rig.tokens,
        max_queue_depth=10,
        quote_timeout_s=1.0,
        stream_idle_check_s=0.02,
    )
    order, created = await service.submit(SOL_USDC)  # the publish fails; the submit does not
    assert created
    streamed: list[OrderEvent] = []

    async def follow() -> None:
        streamed.extend([event async for event in service.stream(order.id)])

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.05)  # the stream is waiting on the live side
    await rig.run(order.id)  # every publish of the executor fails too
    async with asyncio.timeout(2.0):
        await follower
    assert [e.status for e in streamed] == [
        S.PENDING,
        S.ROUTING,
        S.BUILDING,
        S.SUBMITTED,
        S.CONFIRMED,
    ]
    assert streamed == await store.events(order.id)
