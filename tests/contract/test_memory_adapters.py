"""Behaviour of the in-memory queue and bus beyond the shared contracts."""

from __future__ import annotations

import asyncio

import pytest

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue, SlidingWindowLimiter
from order_engine.domain.errors import DependencyUnavailableError, VenueUnavailableError
from order_engine.domain.orders import OrderEvent, OrderStatus
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy

FAST_POLICY = RetryPolicy(max_attempts=3, backoff_base_s=0.02)


def event(order_id: str, seq: int) -> OrderEvent:
    return OrderEvent(order_id, seq, OrderStatus.ROUTING, ts_ms=seq, attempt=1)


async def test_memory_join_waits_for_retries_to_finish() -> None:
    queue = InMemoryJobQueue(FAST_POLICY, rate_limit_max=0)
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)
        if job.attempt == 1:
            raise VenueUnavailableError("down")

    await queue.join()
    await queue.enqueue("a")
    await queue.enqueue("b")
    await queue.start(handler)
    async with asyncio.timeout(5.0):
        await queue.join()
    assert sorted((j.order_id, j.attempt) for j in seen) == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]
    await queue.close()


async def test_memory_queue_refuses_work_after_close() -> None:
    queue = InMemoryJobQueue(FAST_POLICY)

    async def handler(job: Job) -> None:
        return None

    await queue.close()
    with pytest.raises(DependencyUnavailableError):
        await queue.enqueue("a")
    with pytest.raises(RuntimeError):
        await queue.start(handler)


async def test_memory_queue_moves_thousands_of_jobs_quickly() -> None:
    queue = InMemoryJobQueue(FAST_POLICY, concurrency=10, rate_limit_max=0)
    count = 0

    async def handler(job: Job) -> None:
        nonlocal count
        await asyncio.sleep(0)
        count += 1

    await queue.start(handler)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i in range(5000):
        await queue.enqueue(f"order-{i}")
    async with asyncio.timeout(5.0):
        await queue.join()
    assert count == 5000
    assert loop.time() - began < 2.5
    await queue.close()


async def test_limiter_waits_for_the_next_window() -> None:
    limiter = SlidingWindowLimiter(2, 0.1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(5):
        await limiter.acquire()
    assert loop.time() - began >= 0.2 - 0.001


async def test_limiter_with_zero_max_never_waits() -> None:
    limiter = SlidingWindowLimiter(0, 60.0)
    async with asyncio.timeout(1.0):
        for _ in range(1000):
            await limiter.acquire()


async def test_memory_exiting_the_context_removes_the_subscription() -> None:
    bus = InMemoryEventBus()
    async with bus.subscribe("a") as first:
        async with bus.subscribe("a"):
            assert bus.subscriber_count("a") == 2
        assert bus.subscriber_count("a") == 1
    assert bus.subscriber_count("a") == 0
    assert bus._subs == {}
    await bus.publish(event("a", 1))
    with pytest.raises(StopAsyncIteration):
        await anext(first)


async def test_memory_subscribe_after_close_ends_at_once() -> None:
    bus = InMemoryEventBus()
    await bus.close()
    async with bus.subscribe("a") as events:
        await bus.publish(event("a", 1))
        assert [e async for e in events] == []
    assert bus.subscriber_count("a") == 0


async def test_limiter_holds_over_any_window_not_only_fixed_ones() -> None:
    """Starts late in one window and early in the next may not burst past the limit."""
    limiter = SlidingWindowLimiter(2, 0.2)
    loop = asyncio.get_running_loop()
    await limiter.acquire()
    first = loop.time()
    await asyncio.sleep(0.15)
    await limiter.acquire()  # a fixed window would reset at first + 0.2 and let two more in
    await limiter.acquire()
    assert loop.time() - first >= 0.2 - 0.001
