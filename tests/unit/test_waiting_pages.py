"""Watch rounds page through every order waiting on a pair (not only the oldest page):
each is priced, fired or expired; a launch fires every sniper waiting for it."""

from __future__ import annotations

from decimal import Decimal

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.launches import Launch
from order_engine.domain.orders import Order, OrderStatus, OrderType
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.waiting_orders import WaitingOrders, watch_key
from tests.event_samples import payload_for
from tests.unit.fakes import FakeClock, ScriptedVenue
from tests.unit.test_sniper_orders import RecordingQueue

D = Decimal
PAGE = 2
COUNT = 5  # more than two pages


def rig(
    page_size: int = PAGE,
) -> tuple[WaitingOrders, InMemoryOrderStore, RecordingQueue, FakeClock]:
    store, clock = InMemoryOrderStore(), FakeClock()
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01)
    queue, watch_queue = RecordingQueue(policy), RecordingQueue(policy)
    waiting = WaitingOrders(
        store,
        queue,
        watch_queue,
        InMemoryEventBus(),
        [ScriptedVenue("raydium", "130")],
        clock,
        tokens=TokenRegistry(),
        check_interval_s=1,
        quote_timeout_s=1,
        page_size=page_size,
    )
    return waiting, store, queue, clock


async def add_waiting(store: InMemoryOrderStore, clock: FakeClock, i: int, **kw: object) -> Order:
    order = Order(
        f"ord-{i:02d}", "SOL", kw.pop("token_out", "USDC"), D(1), 50,  # type: ignore[arg-type]
        created_ms=clock.ms if i % 2 else clock.now_ms(),  # some share a millisecond
        type=OrderType.LIMIT, limit_price=D("100"), expires_ms=clock.ms + 60_000,
    )  # fmt: skip
    for name, value in kw.items():
        setattr(order, name, value)
    await store.create(order, order.start())
    await store.append(order, order.apply(payload_for(OrderStatus.WAITING), ts_ms=clock.ms))
    return order


async def test_a_watch_round_fires_every_waiting_order_of_the_pair() -> None:
    waiting, store, queue, clock = rig()
    ids = [(await add_waiting(store, clock, i)).id for i in range(COUNT)]
    assert await waiting.handle_watch(Job(watch_key("SOL", "USDC"), 1, 3)) == 1
    assert sorted(queue.enqueued) == ids  # 130 × 0.997 pays every limit of 100
    await queue.close(timeout_s=1)


async def test_a_watch_round_expires_every_waiting_order_of_the_pair() -> None:
    waiting, store, queue, clock = rig()
    ids = [(await add_waiting(store, clock, i)).id for i in range(COUNT)]
    clock.ms += 61_000
    await waiting.handle_watch(Job(watch_key("SOL", "USDC"), 1, 3))
    assert [(await store.get(i)).status for i in ids] == [OrderStatus.EXPIRED] * COUNT
    assert queue.enqueued == []


async def test_a_launch_fires_every_sniper_waiting_for_it() -> None:
    waiting, store, queue, clock = rig()
    snipers = [
        await add_waiting(
            store, clock, i, token_out="NEWC", type=OrderType.SNIPER, limit_price=None
        )
        for i in range(COUNT)
    ]
    launch = Launch("NEWC", "mint", 6, "raydium", "SOL", D("0.5"), D("1000"), clock.ms)
    assert await waiting.on_launch(launch) == COUNT
    assert queue.enqueued == [o.id for o in sorted(snipers, key=lambda o: (o.created_ms, o.id))]
    await queue.close(timeout_s=1)
