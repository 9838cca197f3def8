"""`BullMqJobQueue` across real worker processes on the local Redis: the rate limit is global,
a job whose worker is SIGKILLed mid-job is redelivered (stalled-job recovery), and a
rescheduled job waits in Redis without using an attempt, for whichever worker is there."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bullmq import Queue

from order_engine.adapters.bullmq_queue import DEPTH_MAX_AGE_S, BullMqJobQueue
from order_engine.adapters.bullmq_worker import LimiterAwareWorker
from order_engine.adapters.redis_client import redis_client
from order_engine.domain.orders import Order
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy
from tests.contract.test_job_queue import starts_per_window
from tests.services import delete_prefixed_keys, require_redis_url

REPO_ROOT = Path(__file__).resolve().parents[2]
QUEUE_NAME = "orders"


@dataclass
class WorkerFleet:
    """Worker processes on one shared queue, and what their handlers recorded."""

    redis_url: str
    prefix: str
    out_dir: Path
    procs: list[Process] = field(default_factory=list)

    async def spawn(self, *options: str) -> Process:
        """Start a worker and wait until it consumes the queue."""
        args = [QUEUE_NAME, self.prefix, str(self.out_dir), *options]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.bullmq_worker",
            self.redis_url,
            *args,
            cwd=REPO_ROOT,
        )
        self.procs.append(proc)
        ready = self.out_dir / f"{proc.pid}.ready"
        await poll_until(lambda: ready.exists() or proc.returncode is not None, timeout_s=10.0)
        assert proc.returncode is None, f"worker exited with {proc.returncode}"
        return proc

    def records(self, event: str) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for path in self.out_dir.glob("*.jsonl"):
            text = path.read_text()
            lines += [json.loads(line) for line in text.splitlines() if line.endswith("}")]
        return sorted((r for r in lines if r["event"] == event), key=lambda r: float(r["t"]))

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def poll_until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll files and process states (nothing to await on)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[WorkerFleet]:
    url = require_redis_url()
    workers = WorkerFleet(url, f"oe-it-{uuid.uuid4().hex[:12]}", tmp_path)
    try:
        yield workers
    finally:
        await workers.stop_all()
        client = redis_client(url, decode_responses=True)
        queue = Queue(QUEUE_NAME, {"connection": client, "prefix": workers.prefix})
        try:
            await queue.obliterate(force=True)
        finally:
            await queue.close()


@pytest.fixture
async def producer(fleet: WorkerFleet) -> AsyncIterator[BullMqJobQueue]:
    queue = BullMqJobQueue(fleet.redis_url, RetryPolicy(), name=QUEUE_NAME, prefix=fleet.prefix)
    try:
        yield queue
    finally:
        await queue.close()


async def test_rate_limit_holds_across_three_worker_processes(
    fleet: WorkerFleet, producer: BullMqJobQueue
) -> None:
    limit, window_s, jobs = 4, 1.0, 14
    options = ["--concurrency", "4", "--rate-max", str(limit), "--rate-window-s", str(window_s)]
    await asyncio.gather(*(fleet.spawn(*options, "--handler-s", "0.05") for _ in range(3)))
    ids = [f"order-{i}" for i in range(jobs)]
    for order_id in ids:
        assert await producer.enqueue(order_id)
    await poll_until(lambda: len(fleet.records("done")) >= jobs, timeout_s=15.0)
    starts = fleet.records("start")
    assert sorted(r["order"] for r in starts) == sorted(ids), "each job started exactly once"
    assert {r["attempt"] for r in starts} == {1}
    counts = starts_per_window([r["t"] for r in starts], window_s, slack_s=0.1)
    assert max(counts) <= limit, counts
    assert len(counts) >= -(-jobs // limit), counts
    assert starts[-1]["t"] - starts[0]["t"] >= (len(counts) - 1) * window_s - 0.1
    assert len({r["pid"] for r in starts}) >= 2, "the limit is shared, not per process"
    await poll_until_depth(producer, 0)


async def test_job_of_a_killed_worker_is_redelivered_to_another(
    fleet: WorkerFleet, producer: BullMqJobQueue
) -> None:
    fast_recovery = ["--stalled-interval-ms", "500", "--lock-duration-ms", "1000"]
    doomed = await fleet.spawn(*fast_recovery, "--handler-s", "60")
    order = Order("order-stalled", "SOL", "USDC", Decimal("1.5"), 50, 1_700_000_000_000)
    assert await producer.enqueue("order-stalled", new=True, order=order)
    await poll_until(lambda: len(fleet.records("start")) == 1, timeout_s=5.0)
    doomed.kill()
    await asyncio.wait_for(doomed.wait(), timeout=5)
    survivor = await fleet.spawn(*fast_recovery, "--handler-s", "0.05")
    await poll_until(lambda: len(fleet.records("done")) == 1, timeout_s=10.0)
    starts, done = fleet.records("start"), fleet.records("done")
    assert [r["pid"] for r in starts] == [doomed.pid, survivor.pid]
    assert [r["order"] for r in done] == ["order-stalled"]
    assert done[0]["pid"] == survivor.pid
    assert starts[1]["attempt"] == 1, "a stall is not a failed attempt in BullMQ"
    # the order as queued may be stale by then (the dead worker may have moved it on)
    assert [r["carried"] for r in starts] == [True, False]
    await poll_until_depth(producer, 0)
    survivor.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(survivor.wait(), 5) == 0, "SIGTERM closes the worker cleanly"


async def test_a_rescheduled_job_keeps_its_attempts_and_outlives_its_worker(
    fleet: WorkerFleet, producer: BullMqJobQueue
) -> None:
    job_id, policy = "watch:SOL:USDC", RetryPolicy(max_attempts=3, backoff_base_s=0.05)
    runs: list[tuple[str, Job]] = []

    async def reschedule(job: Job) -> float:
        runs.append(("first", job))
        return 1.0

    async def finish(job: Job) -> None:
        runs.append(("second", job))

    def worker() -> BullMqJobQueue:  # a short idle poll: close() returns well within the delay
        return BullMqJobQueue(
            fleet.redis_url, policy, name=QUEUE_NAME, prefix=fleet.prefix, drain_delay_s=0.2
        )

    first, second = worker(), worker()
    client = redis_client(fleet.redis_url, decode_responses=True)
    try:
        await first.start(reschedule)
        assert await producer.enqueue(job_id)
        delayed_key = f"{fleet.prefix}:{QUEUE_NAME}:delayed"
        async with asyncio.timeout(5.0):
            while await client.zscore(delayed_key, job_id) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        job_hash = await client.hgetall(f"{fleet.prefix}:{QUEUE_NAME}:{job_id}")
        assert job_hash.get("atm", "0") == "0", "a reschedule is not a made attempt"
        assert await producer.enqueue(job_id) is False
        await first.close(timeout_s=5.0)
        assert await producer.depth() == 1, "close() leaves the rescheduled job in Redis"
        await second.start(finish)
        await poll_until(lambda: len(runs) == 2, timeout_s=5.0)
    finally:
        await asyncio.gather(first.close(), second.close(), client.aclose())
    assert runs == [("first", Job(job_id, 1, 3)), ("second", Job(job_id, 1, 3))]
    await poll_until_depth(producer, 0)


async def poll_until_depth(queue: BullMqJobQueue, value: int, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while await queue.depth() != value:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_depth_reads_redis_at_most_every_tenth_of_a_second() -> None:
    """The API's admission check asks `depth()` on every POST: concurrent and quick
    successive calls share one Redis read; this process's own enqueues count at once,
    and another process's show up once the reading is older than `DEPTH_MAX_AGE_S`."""
    url, prefix = require_redis_url(), f"oe-depth-{uuid.uuid4().hex[:8]}"
    ours, theirs = (BullMqJobQueue(url, RetryPolicy(), prefix=prefix) for _ in range(2))
    reads: list[int] = []
    read = ours._depth_and_existence

    async def counted(order_id: str | None) -> tuple[int, bool]:
        reads.append(1)
        return await read(order_id)

    ours._depth_and_existence = counted  # type: ignore[method-assign]
    try:
        assert await asyncio.gather(*(ours.depth() for _ in range(20))) == [0] * 20
        assert len(reads) == 1
        await ours.enqueue(str(uuid.uuid4()))  # its own check reads once more
        await theirs.enqueue(str(uuid.uuid4()))
        assert await ours.depth() == 1 and len(reads) == 2  # not yet the other's job
        await asyncio.sleep(DEPTH_MAX_AGE_S)
        assert await ours.depth() == 2 and len(reads) == 3
    finally:
        await ours.close()
        await theirs.close()
        await delete_prefixed_keys(url, prefix)


async def test_new_orders_enqueued_together_share_a_round_trip() -> None:
    """New orders' jobs added while an add is out go together in one `addBulk`; each job is
    queued with its options, and a lone add still goes by itself."""
    url, prefix = require_redis_url(), f"oe-adds-{uuid.uuid4().hex[:8]}"
    queue = BullMqJobQueue(url, RetryPolicy(), prefix=prefix)
    sizes: list[int] = []
    add, add_bulk = queue._queue.add, queue._queue.addBulk

    async def one(name: str, data: Any, opts: Any) -> Any:
        sizes.append(1)
        return await add(name, data, opts)

    async def bulk(jobs: list[dict[str, Any]]) -> Any:
        sizes.append(len(jobs))
        return await add_bulk(jobs)

    queue._queue.add, queue._queue.addBulk = one, bulk
    ids = [str(uuid.uuid4()) for _ in range(30)]
    try:
        assert await asyncio.gather(*(queue.enqueue(i, new=True) for i in ids)) == [True] * 30
        assert sizes == [30]  # made in one loop turn: one MULTI/EXEC
        ids.append(str(uuid.uuid4()))
        assert await queue.enqueue(ids[-1], new=True)
        assert sizes == [30, 1]  # alone: BullMQ's add
        client = redis_client(url, decode_responses=True)
        try:
            for order_id in ids:
                stored = await client.hgetall(f"{prefix}:orders:{order_id}")
                assert json.loads(stored["data"]) == {"orderId": order_id}
                assert json.loads(stored["opts"])["attempts"] == RetryPolicy().max_attempts
        finally:
            await client.aclose()
        await poll_until_depth(queue, 31)
    finally:
        await queue.close()
        await delete_prefixed_keys(url, prefix)


async def test_a_slot_takes_its_next_job_with_the_completion_of_the_last(
    fleet: WorkerFleet, producer: BullMqJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = 0
    move_to_active = LimiterAwareWorker.moveToActive

    async def counted(self: LimiterAwareWorker, token: str) -> Any:
        nonlocal moves
        moves += 1
        return await move_to_active(self, token)

    monkeypatch.setattr(LimiterAwareWorker, "moveToActive", counted)
    ids = [f"order-{i}" for i in range(20)]
    for order_id in ids:
        assert await producer.enqueue(order_id)
    consumer = BullMqJobQueue(
        fleet.redis_url, RetryPolicy(), name=QUEUE_NAME, prefix=fleet.prefix, concurrency=1
    )
    seen: list[str] = []
    all_seen = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.append(job.order_id)
        if len(seen) == len(ids):
            all_seen.set()

    await consumer.start(handler)
    await asyncio.wait_for(all_seen.wait(), timeout=10)
    await consumer.close()
    assert seen == ids  # each once, in order, one slot
    assert moves <= 3, "the first job is fetched on its own; each later one with the last"
    await poll_until_depth(producer, 0)


def count_moves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every moveToActive script a worker runs (one element each)."""
    moves: list[int] = []
    move_to_active = LimiterAwareWorker.moveToActive

    async def counted(self: LimiterAwareWorker, token: str) -> Any:
        moves.append(1)
        return await move_to_active(self, token)

    monkeypatch.setattr(LimiterAwareWorker, "moveToActive", counted)
    return moves


async def test_free_slots_do_not_all_ask_for_a_job_that_arrives_at_an_empty_queue(
    fleet: WorkerFleet, producer: BullMqJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = count_moves(monkeypatch)
    consumer = BullMqJobQueue(
        fleet.redis_url, RetryPolicy(), name=QUEUE_NAME, prefix=fleet.prefix, concurrency=20
    )
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def handler(job: Job) -> None:
        await handled.put(job.order_id)

    await consumer.start(handler)
    try:
        for n in range(10):  # one at a time: the queue is empty when each arrives
            assert await producer.enqueue(f"order-{n}")
            assert await asyncio.wait_for(handled.get(), timeout=5) == f"order-{n}"
    finally:
        await consumer.close()
    # one move takes the job, one finds the queue empty again, and each idle poll that
    # times out (a loaded machine) asks once more: 2-3 a job (19 free slots each asked
    # before: ~30 scripts per job)
    assert len(moves) <= 4 * 10, len(moves)


async def test_every_free_slot_fills_from_a_backlog(
    fleet: WorkerFleet, producer: BullMqJobQueue
) -> None:
    for n in range(40):
        assert await producer.enqueue(f"order-{n}")
    consumer = BullMqJobQueue(
        fleet.redis_url, RetryPolicy(), name=QUEUE_NAME, prefix=fleet.prefix, concurrency=20
    )
    running, most, done = 0, 0, asyncio.Event()
    finished: list[str] = []

    async def handler(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.2)
        running -= 1
        finished.append(job.order_id)
        if len(finished) == 40:
            done.set()

    await consumer.start(handler)
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await consumer.close()
    assert most == 20 and sorted(finished) == sorted(f"order-{n}" for n in range(40))


async def test_a_closing_worker_takes_no_job_even_when_its_wait_ignores_the_cancel(
    fleet: WorkerFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11 a cancel that lands while redis-py sends the blocking read can be
    lost: the wait ends normally, later. Here every cancelled wait ends so, once the
    rescheduled job is due: the closing worker must still not take it."""
    wait_for_job = LimiterAwareWorker.waitForJob

    async def loses_its_cancel(self: LimiterAwareWorker) -> Any:
        try:
            return await wait_for_job(self)
        except asyncio.CancelledError:
            await asyncio.sleep(0.4)  # the read went on: the job is due by now
            return 0

    monkeypatch.setattr(LimiterAwareWorker, "waitForJob", loses_its_cancel)
    consumer = BullMqJobQueue(
        fleet.redis_url, RetryPolicy(), name=QUEUE_NAME, prefix=fleet.prefix, concurrency=4
    )
    seen: list[int] = []

    async def handler(job: Job) -> float | None:
        seen.append(job.attempt)
        return 0.2  # rescheduled: due while the close waits for the lost cancel

    await consumer.start(handler)
    assert await consumer.enqueue("order-late")
    await poll_until(lambda: len(seen) == 1, timeout_s=5.0)
    await asyncio.sleep(0.05)
    await consumer.close(timeout_s=2.0)
    await asyncio.sleep(0.3)
    assert seen == [1]
