"""Contract of `JobQueue`: every implementation in `IMPLEMENTATIONS` must pass it.

Add an implementation by adding one `pytest.param(build_fn, id=...)` entry; `build_fn`
gets the `QueueSettings` of a test and returns a fresh, empty, not yet started queue
(the fixture closes it afterwards).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

import pytest
from bullmq import Queue

from order_engine.adapters.bullmq_queue import BullMqJobQueue
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import CapacityError, VenueUnavailableError
from order_engine.domain.orders import Order, OrderStatus
from order_engine.engine.ports import Job, JobQueue
from order_engine.engine.retry import RetryPolicy
from tests.services import require_redis_url

FAST_POLICY = RetryPolicy(max_attempts=3, backoff_base_s=0.02, backoff_factor=2.0)
TIMER_SLACK_S = 0.001


@dataclass(frozen=True)
class QueueSettings:
    policy: RetryPolicy = FAST_POLICY
    concurrency: int = 10
    rate_limit_max: int = 0
    rate_limit_window_s: float = 60.0
    max_depth: int = 10_000


async def build_memory_queue(settings: QueueSettings) -> JobQueue:
    return InMemoryJobQueue(
        settings.policy,
        concurrency=settings.concurrency,
        rate_limit_max=settings.rate_limit_max,
        rate_limit_window_s=settings.rate_limit_window_s,
        max_depth=settings.max_depth,
    )


class _ObliteratedBullMqJobQueue(BullMqJobQueue):
    """A BullMQ queue under its own key prefix, deleted from Redis when closed."""

    def __init__(self, redis_url: str, prefix: str, settings: QueueSettings) -> None:
        super().__init__(
            redis_url,
            settings.policy,
            name="contract",
            prefix=prefix,
            concurrency=settings.concurrency,
            rate_limit_max=settings.rate_limit_max,
            rate_limit_window_s=settings.rate_limit_window_s,
            max_depth=settings.max_depth,
        )
        self._test_url = redis_url
        self._test_prefix = prefix

    async def close(self, timeout_s: float = 10.0) -> None:
        await super().close(timeout_s)
        client = redis_client(self._test_url, decode_responses=True)
        queue = Queue("contract", {"connection": client, "prefix": self._test_prefix})
        try:
            await queue.obliterate(force=True)
        finally:
            await queue.close()


async def build_bullmq_queue(settings: QueueSettings) -> JobQueue:
    prefix = f"oe-test-{uuid.uuid4().hex[:12]}"
    return _ObliteratedBullMqJobQueue(require_redis_url(), prefix, settings)


IMPLEMENTATIONS = [
    pytest.param(build_memory_queue, id="memory"),
    pytest.param(build_bullmq_queue, id="bullmq"),
]


class MakeQueue(Protocol):
    async def __call__(self, **overrides: Any) -> JobQueue: ...


@pytest.fixture(params=IMPLEMENTATIONS)
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[MakeQueue]:
    build: Callable[[QueueSettings], Awaitable[JobQueue]] = request.param
    created: list[JobQueue] = []

    async def make(**overrides: Any) -> JobQueue:
        queue = await build(replace(QueueSettings(), **overrides))
        created.append(queue)
        return queue

    yield make
    for queue in created:
        await queue.close(timeout_s=1.0)


@dataclass
class Deliveries:
    """What a handler saw: each job and the `time.monotonic()` it started."""

    jobs: list[Job] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, job: Job) -> None:
        self.jobs.append(job)
        self.times.append(time.monotonic())
        self.changed.set()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.jobs) < count:
                self.changed.clear()
                await self.changed.wait()


async def wait_depth(queue: JobQueue, value: int, timeout_s: float = 5.0) -> None:
    """Poll `depth()`: the only view of a queue's state that every implementation has."""
    async with asyncio.timeout(timeout_s):
        while await queue.depth() != value:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_every_job_is_delivered_once(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)

    ids = [f"order-{i}" for i in range(50)]
    for order_id in ids[:25]:
        assert await queue.enqueue(order_id)
    await queue.start(handler)
    for order_id in ids[25:]:
        assert await queue.enqueue(order_id)
    await seen.wait_for(50)
    await wait_depth(queue, 0)
    assert sorted(job.order_id for job in seen.jobs) == sorted(ids)
    assert {job.attempt for job in seen.jobs} == {1}


async def test_enqueue_of_a_waiting_or_active_id_is_a_no_op(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()
    release = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.record(job)
        await release.wait()

    assert await queue.enqueue("a") is True
    assert await queue.enqueue("a") is False
    assert await queue.depth() == 1
    await queue.start(handler)
    await seen.wait_for(1)
    assert await queue.enqueue("a") is False
    assert await queue.depth() == 1
    release.set()
    await wait_depth(queue, 0)
    assert await queue.enqueue("a") is True, "a finished job's id can be queued again"
    await seen.wait_for(2)
    assert [job.order_id for job in seen.jobs] == ["a", "a"]


async def test_enqueue_of_a_delayed_retry_is_a_no_op(make_queue: MakeQueue) -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.3)
    queue = await make_queue(policy=policy)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)
        if job.attempt == 1:
            raise VenueUnavailableError("down")

    await queue.start(handler)
    assert await queue.enqueue("a")
    await seen.wait_for(1)
    await asyncio.sleep(0.05)
    assert await queue.enqueue("a") is False
    assert await queue.depth() == 1
    await seen.wait_for(2)
    await wait_depth(queue, 0)
    assert [job.attempt for job in seen.jobs] == [1, 2]


async def test_depth_counts_waiting_and_active_jobs(make_queue: MakeQueue) -> None:
    queue = await make_queue(concurrency=2)
    seen = Deliveries()
    release = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.record(job)
        await release.wait()

    for i in range(5):
        await queue.enqueue(f"order-{i}")
    assert await queue.depth() == 5
    await queue.start(handler)
    await seen.wait_for(2)
    assert await queue.depth() == 5
    release.set()
    await wait_depth(queue, 0)
    assert len(seen.jobs) == 5


async def test_enqueue_beyond_max_depth_raises_capacity_error(make_queue: MakeQueue) -> None:
    queue = await make_queue(max_depth=3)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)

    for i in range(3):
        assert await queue.enqueue(f"order-{i}")
    with pytest.raises(CapacityError) as raised:
        await queue.enqueue("one-too-many")
    assert raised.value.retry_after_s >= 1
    assert await queue.depth() == 3
    await queue.start(handler)
    await wait_depth(queue, 0)
    assert await queue.enqueue("one-too-many")
    await seen.wait_for(4)
    assert "one-too-many" in {job.order_id for job in seen.jobs}


async def test_concurrency_is_reached_and_never_exceeded(make_queue: MakeQueue) -> None:
    queue = await make_queue(concurrency=3)
    seen = Deliveries()
    in_flight = 0
    peak = 0

    async def handler(job: Job) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
        finally:
            in_flight -= 1
        seen.record(job)

    for i in range(30):
        await queue.enqueue(f"order-{i}")
    await queue.start(handler)
    await seen.wait_for(30)
    assert peak == 3


def starts_per_window(times: list[float], window_s: float, slack_s: float) -> list[int]:
    """Group start times into fixed windows, each opened by the first start after the
    previous one ended (with `slack_s` for scheduling jitter); count starts per window."""
    counts: list[int] = []
    window_end = float("-inf")
    for t in sorted(times):
        if t >= window_end:
            window_end = t + window_s - slack_s
            counts.append(0)
        counts[-1] += 1
    return counts


async def test_rate_limit_caps_starts_per_window(make_queue: MakeQueue) -> None:
    window_s = 0.3
    queue = await make_queue(rate_limit_max=5, rate_limit_window_s=window_s)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)

    for i in range(12):
        await queue.enqueue(f"order-{i}")
    await queue.start(handler)
    await seen.wait_for(12)
    counts = starts_per_window(seen.times, window_s, slack_s=0.05)
    assert max(counts) <= 5, counts
    assert len(counts) >= 3, counts
    assert max(seen.times) - min(seen.times) >= 2 * window_s - 0.05


async def test_failed_job_is_retried_with_backoff(make_queue: MakeQueue) -> None:
    queue = await make_queue(policy=FAST_POLICY)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)
        if job.attempt < 3:
            raise VenueUnavailableError(f"attempt {job.attempt} failed")

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(3)
    await wait_depth(queue, 0)
    assert [job.attempt for job in seen.jobs] == [1, 2, 3]
    assert {job.max_attempts for job in seen.jobs} == {3}
    assert [job.is_last_attempt for job in seen.jobs] == [False, False, True]
    gaps = [later - earlier for earlier, later in zip(seen.times, seen.times[1:], strict=False)]
    assert gaps[0] >= FAST_POLICY.delay_s(1) - TIMER_SLACK_S
    assert gaps[1] >= FAST_POLICY.delay_s(2) - TIMER_SLACK_S


async def test_always_failing_job_is_delivered_max_attempts_times(make_queue: MakeQueue) -> None:
    queue = await make_queue(policy=FAST_POLICY)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)
        raise RuntimeError("any exception is retried")

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(FAST_POLICY.max_attempts)
    await wait_depth(queue, 0)
    await asyncio.sleep(FAST_POLICY.delay_s(FAST_POLICY.max_attempts) * 2)
    assert [job.attempt for job in seen.jobs] == [1, 2, 3]


async def test_close_waits_for_active_handlers(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()
    finished: list[str] = []

    async def handler(job: Job) -> None:
        seen.record(job)
        await asyncio.sleep(0.1)
        finished.append(job.order_id)

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(1)
    await queue.close(timeout_s=5.0)
    assert finished == ["a"]


async def test_close_takes_no_new_jobs(make_queue: MakeQueue) -> None:
    queue = await make_queue(concurrency=1)
    seen = Deliveries()
    release = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.record(job)
        await release.wait()

    for order_id in ("a", "b", "c"):
        await queue.enqueue(order_id)
    await queue.start(handler)
    await seen.wait_for(1)
    closing = asyncio.create_task(queue.close(timeout_s=5.0))
    await asyncio.sleep(0.02)
    assert not closing.done(), "close returned while a handler was active"
    release.set()
    await closing
    await asyncio.sleep(0.05)
    assert [job.order_id for job in seen.jobs] == ["a"]


async def test_close_gives_up_on_a_hung_handler_after_timeout(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()
    never = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.record(job)
        await never.wait()

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(1)
    async with asyncio.timeout(2.0):
        await queue.close(timeout_s=0.1)


async def test_close_cancels_pending_retries(make_queue: MakeQueue) -> None:
    # a backoff well past the close: a loaded machine must not let the retry in before it
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.5)
    queue = await make_queue(policy=policy)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)
        raise VenueUnavailableError("down")

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(1)
    await asyncio.sleep(0.01)
    await queue.close(timeout_s=1.0)
    await asyncio.sleep(0.7)  # past the retry's time, had it not been cancelled
    assert len(seen.jobs) == 1


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_a_delayed_job_runs_only_after_its_delay(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)

    await queue.start(handler)
    enqueued_at = time.monotonic()
    assert await queue.enqueue("later", delay_s=0.3)
    assert await queue.enqueue("now")
    await seen.wait_for(1)
    assert [job.order_id for job in seen.jobs] == ["now"], "the delayed job ran first"
    await seen.wait_for(2)
    assert seen.jobs[1] == Job("later", 1, FAST_POLICY.max_attempts)
    assert seen.times[1] - enqueued_at >= 0.3 - TIMER_SLACK_S
    assert seen.times[1] - enqueued_at < 2.0
    await wait_depth(queue, 0)


async def test_enqueue_of_a_delayed_id_is_a_no_op(make_queue: MakeQueue) -> None:
    queue = await make_queue(max_depth=2)
    seen = Deliveries()

    async def handler(job: Job) -> None:
        seen.record(job)

    assert await queue.enqueue("a", delay_s=0.3)
    assert await queue.enqueue("a") is False
    assert await queue.enqueue("a", delay_s=0.01) is False
    assert await queue.enqueue("b", delay_s=0.3)
    assert await queue.depth() == 2, "delayed jobs count towards the depth"
    with pytest.raises(CapacityError):
        await queue.enqueue("c", delay_s=0.3)
    await queue.start(handler)
    await seen.wait_for(2)
    await wait_depth(queue, 0)
    assert sorted(job.order_id for job in seen.jobs) == ["a", "b"]


async def test_a_negative_or_non_finite_delay_is_rejected(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    for delay_s in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delay"):
            await queue.enqueue("a", delay_s=delay_s)
    assert await queue.depth() == 0


async def test_a_rescheduled_job_runs_again_with_the_same_attempt(make_queue: MakeQueue) -> None:
    queue = await make_queue(policy=FAST_POLICY)
    seen = Deliveries()
    reschedules = FAST_POLICY.max_attempts + 1  # more runs than attempts: none is used up
    delay_s = 0.2

    async def handler(job: Job) -> float | None:
        seen.record(job)
        return delay_s if len(seen.jobs) <= reschedules else None

    await queue.start(handler)
    assert await queue.enqueue("watch:SOL:USDC")
    await seen.wait_for(reschedules + 1)
    await wait_depth(queue, 0)  # nothing waiting, delayed or active: no run follows
    assert seen.jobs == [Job("watch:SOL:USDC", 1, FAST_POLICY.max_attempts)] * (reschedules + 1)
    assert all(delay_s - TIMER_SLACK_S <= gap < delay_s + 1.0 for gap in gaps(seen.times))


async def test_enqueue_of_a_rescheduled_id_is_a_no_op_until_it_finishes(
    make_queue: MakeQueue,
) -> None:
    queue = await make_queue()
    seen = Deliveries()

    async def handler(job: Job) -> float | None:
        seen.record(job)
        return 0.3 if len(seen.jobs) == 1 else None

    await queue.start(handler)
    assert await queue.enqueue("a")
    await seen.wait_for(1)
    await asyncio.sleep(0.05)
    assert await queue.enqueue("a") is False, "a rescheduled job is still queued"
    assert await queue.depth() == 1
    await seen.wait_for(2)
    await wait_depth(queue, 0)
    assert await queue.enqueue("a") is True, "a finished job's id can be queued again"
    await seen.wait_for(3)
    await wait_depth(queue, 0)
    assert [job.attempt for job in seen.jobs] == [1, 1, 1]


async def test_a_rescheduled_run_that_raises_is_retried_with_backoff(
    make_queue: MakeQueue,
) -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.05)
    queue = await make_queue(policy=policy)
    seen = Deliveries()

    async def handler(job: Job) -> float | None:
        seen.record(job)
        if len(seen.jobs) == 1:
            return 0.2
        if len(seen.jobs) == 2:
            raise VenueUnavailableError("down")
        return None

    await queue.start(handler)
    assert await queue.enqueue("a")
    await seen.wait_for(3)
    await wait_depth(queue, 0)
    assert [(job.attempt, job.is_last_attempt) for job in seen.jobs] == [
        (1, False),
        (1, False),
        (2, True),
    ], "the reschedule used no attempt, so the failed run is retried"
    first, second = gaps(seen.times)
    assert 0.2 - TIMER_SLACK_S <= first < 1.2
    assert policy.delay_s(1) - TIMER_SLACK_S <= second < policy.delay_s(1) + 1.0


async def test_a_returned_negative_delay_is_a_failure(make_queue: MakeQueue) -> None:
    queue = await make_queue(policy=FAST_POLICY)
    seen = Deliveries()

    async def handler(job: Job) -> float | None:
        seen.record(job)
        return -1.0 if job.attempt == 1 else None

    await queue.start(handler)
    assert await queue.enqueue("a")
    await seen.wait_for(2)
    await wait_depth(queue, 0)
    assert [job.attempt for job in seen.jobs] == [1, 2]


async def test_a_rescheduled_run_counts_against_the_rate_limit(make_queue: MakeQueue) -> None:
    window_s = 0.4
    queue = await make_queue(rate_limit_max=1, rate_limit_window_s=window_s)
    seen = Deliveries()

    async def handler(job: Job) -> float | None:
        seen.record(job)
        return 0.05 if len(seen.jobs) == 1 else None

    await queue.start(handler)
    assert await queue.enqueue("a")
    await seen.wait_for(2)
    await wait_depth(queue, 0)
    (gap,) = gaps(seen.times)
    assert window_s - 0.05 <= gap < window_s + 1.0, "the later run waited for the window"


async def test_close_cancels_pending_reschedules(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    seen = Deliveries()

    async def handler(job: Job) -> float | None:
        seen.record(job)
        return 0.3  # due well after the close below starts, on a loaded machine too

    await queue.start(handler)
    await queue.enqueue("a")
    await seen.wait_for(1)
    await asyncio.sleep(0.01)
    await queue.close(timeout_s=1.0)
    await asyncio.sleep(0.7)  # past the retry's time, had it not been cancelled
    assert len(seen.jobs) == 1


async def test_a_job_carries_its_order_to_its_first_delivery_only(make_queue: MakeQueue) -> None:
    queue = await make_queue(policy=FAST_POLICY)
    seen = Deliveries()
    order = Order("o1", "SOL", "USDC", Decimal("1.5"), 50, 1_700_000_000_000, account_id="a1")
    order.seq = 1

    async def handler(job: Job) -> float | None:
        seen.record(job)
        if len(seen.jobs) == 1:
            raise VenueUnavailableError("the first attempt fails")
        return 0.05 if len(seen.jobs) == 2 else None  # the retry reschedules once

    await queue.start(handler)
    assert await queue.enqueue("o1", new=True, order=order)
    order.status = OrderStatus.CANCELLED  # the caller's copy moves on; the job's does not
    await seen.wait_for(3)
    first = seen.jobs[0].order
    assert first is not None and first is not order
    assert first == replace(order, status=OrderStatus.PENDING)
    assert [job.order for job in seen.jobs[1:]] == [None, None]  # a retry, a reschedule
    assert [job.attempt for job in seen.jobs] == [1, 2, 2]
