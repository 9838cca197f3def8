"""`JobQueue` on BullMQ for Python: the Lua scripts of the Node original keep jobs, job ids,
attempts with backoff, delayed jobs and retries, the global rate limiter and stalled-job
recovery in Redis, so every API and worker process shares them.

A delayed enqueue is BullMQ's `delay` job option. A handler's reschedule moves its active job
to the delayed set with `Job.moveToDelayed` (the lock token is the processor's second
argument), which passes `skipAttempt` so the job's `attemptsMade` stays as it was, then
raises `DelayedError`, which the worker takes as "neither completed nor failed".

Three gaps of bullmq-python 3.4.4 are closed here:
- its Redis connections report `canDoubleTimeout=False` until asked for the server version,
  so every blocking wait (a delayed retry, the limiter) is rounded UP to whole seconds; the
  worker's connections are asked before it runs, so waits keep millisecond precision;
- it drops the limiter's wait-until time and falls back to the idle poll (`drainDelay`), so a
  limited worker starts up to `drainDelay` late; `bullmq_worker.LimiterAwareWorker` blocks
  until the window reopens instead;
- it completes a job without fetching the next one, then moves the next one to active by a
  second round trip inside the slot; `LimiterAwareWorker` fetches it with the completion,
  as the Node worker does.
`drainDelay` (1 s) is the idle poll and the longest blocking read, which bounds how long a
close waits for a read that missed its cancellation. Redis checks blocking timeouts at its
`hz` (10/s by default), so a timed wait ends up to ~0.1 s late: windows and backoffs are
never shorter than configured, sometimes that much longer.

Semantics that differ from `InMemoryJobQueue`: the limiter is a fixed window opened by its
first start (all of a window's jobs may start at once); a delayed job (retry, reschedule or
delayed enqueue) lives in Redis, so `close()` leaves it for any worker instead of dropping
it; a job redelivered after its worker died keeps its attempt number (a stall is not a
failed attempt). The stalled-job check runs every half lock, so a dead worker's job moves on
within about 1.5 locks of its death; a job stalls up to `MAX_STALLS` times (its workers
died each time) before BullMQ drops it for the engine's recovery sweep to re-enqueue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any, NoReturn

from bullmq import DelayedError, Queue
from redis.exceptions import RedisError

from order_engine.adapters.bullmq_worker import (
    LimiterAwareWorker,
    carried_order,
    log_error,
    log_failed,
    log_stalled,
)
from order_engine.adapters.coalesce import Coalescer
from order_engine.adapters.order_json import order_to_json
from order_engine.adapters.queue_limits import checked_delay_s, full_queue_retry_after_s
from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import CapacityError, DependencyUnavailableError
from order_engine.domain.orders import Order
from order_engine.engine.ports import Job, JobHandler
from order_engine.engine.retry import RetryPolicy

log = logging.getLogger(__name__)

JOB_NAME = "execute"
LIST_STATES = ("wait", "paused", "active")  # depth: waiting, delayed or active jobs
ZSET_STATES = ("prioritized", "delayed")
RECONNECT_DELAY_MS = 1_000  # bullmq's default 15 s pause after a Redis connection error
MAX_STALLS = 10  # deliveries lost to dead workers before the recovery sweep takes the job
POLICY_BACKOFF = "policy"
DEPTH_MAX_AGE_S = 0.1  # `depth()` (the API's admission check) reads Redis at most this often


class BullMqJobQueue:
    """`JobQueue` on a BullMQ queue `name` under key prefix `prefix`. The API side only
    enqueues; a worker process also calls `start`. Job id = order id."""

    def __init__(
        self,
        redis_url: str,
        policy: RetryPolicy,
        *,
        name: str = "orders",
        prefix: str = "oe",
        concurrency: int = 10,
        rate_limit_max: int = 100,
        rate_limit_window_s: float = 60.0,
        max_depth: int = 10_000,
        stalled_interval_ms: int = 30_000,
        lock_duration_ms: int = 30_000,
        drain_delay_s: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._url = redis_url
        self._policy = policy
        self._name = name
        self._max_depth = max_depth
        self._retry_after_s = full_queue_retry_after_s(rate_limit_max, rate_limit_window_s)
        self._worker_opts: dict[str, Any] = {
            "prefix": prefix,
            "concurrency": concurrency,
            "drainDelay": drain_delay_s,
            "stalledInterval": stalled_interval_ms,
            "maxStalledCount": MAX_STALLS,
            "lockDuration": lock_duration_ms,
            "runRetryDelay": RECONNECT_DELAY_MS,
            "autorun": False,
            "settings": {"backoffStrategy": self._backoff_ms},
        }
        if rate_limit_max > 0 and rate_limit_window_s > 0:
            window_ms = max(1, round(rate_limit_window_s * 1000))
            self._worker_opts["limiter"] = {"max": rate_limit_max, "duration": window_ms}
        self._client = redis_client(redis_url, decode_responses=True)
        self._queue = Queue(name, {"connection": self._client, "prefix": prefix})
        self._worker: Any = None
        self._run_task: asyncio.Task[Any] | None = None
        self._closed = False
        self._depth, self._depth_at, self._added_since = 0, -math.inf, 0
        self._depth_lock = asyncio.Lock()
        # new orders' jobs added while an add is out go together: one round trip for many
        self._new_jobs = Coalescer(self._add_jobs, max_batch=200, name="bullmq-adds")

    async def enqueue(
        self, order_id: str, *, delay_s: float = 0.0, new: bool = False, order: Order | None = None
    ) -> bool:
        """One round trip reads the depth and whether the id exists, a second adds the job.
        (BullMQ's add of an existing id is a silent no-op that returns that id, so the
        existence check comes first; two concurrent enqueues of one id may both get True,
        never a False for a job that was added.) A `new` order's job is only added: its
        caller checked the depth (`depth()`, from this process's cache), and its id was
        never queued. `order` travels in the job's data (as JSON) to its first delivery."""
        delay_ms = math.ceil(checked_delay_s(delay_s) * 1000)
        if self._closed:
            raise DependencyUnavailableError("job queue is closed")
        try:
            if not new:
                depth, exists = await self._depth_and_existence(order_id)
                if exists:
                    return False
                if depth >= self._max_depth:
                    raise CapacityError(
                        f"queue holds its maximum of {self._max_depth} jobs",
                        retry_after_s=self._retry_after_s,
                    )
            options = self._job_options(order_id)
            if delay_ms > 0:
                options["delay"] = delay_ms
            data: dict[str, Any] = {"orderId": order_id}
            if order is not None:
                data["order"] = order_to_json(order)
            job = {"name": JOB_NAME, "data": data, "opts": options}
            await (self._new_jobs.submit(job) if new else self._add_jobs([job]))
            self._added_since += 1
            return True
        except (RedisError, OSError) as error:
            raise DependencyUnavailableError("job queue unavailable") from error

    async def _add_jobs(self, jobs: list[dict[str, Any]]) -> None:
        if len(jobs) == 1:
            await self._queue.add(jobs[0]["name"], jobs[0]["data"], jobs[0]["opts"])
        else:  # one MULTI/EXEC of BullMQ's add script per job
            await self._queue.addBulk(jobs)

    async def _depth_and_existence(self, order_id: str | None) -> tuple[int, bool]:
        keys = self._queue.keys
        async with self._client.pipeline(transaction=False) as pipe:
            for state in LIST_STATES:
                pipe.llen(keys[state])
            for state in ZSET_STATES:
                pipe.zcard(keys[state])
            if order_id is not None:
                pipe.exists(self._queue.toKey(order_id))
            replies: list[int] = await pipe.execute()
        sizes = len(LIST_STATES) + len(ZSET_STATES)
        return sum(replies[:sizes]), bool(order_id is not None and replies[sizes])

    def _job_options(self, order_id: str) -> dict[str, Any]:
        base_ms = max(1, round(self._policy.backoff_base_s * 1000))
        backoff_type = "exponential" if self._policy.backoff_factor == 2.0 else POLICY_BACKOFF
        return {
            "jobId": order_id,
            "attempts": self._policy.max_attempts,
            "backoff": {"type": backoff_type, "delay": base_ms},
            "removeOnComplete": True,
            "removeOnFail": True,
        }

    def _backoff_ms(self, attempts_made: int, _type: str, _error: Any, _job: Any) -> int:
        """Backoff for a factor other than 2 (BullMQ's "exponential" is base × 2^(n−1))."""
        return max(1, round(self._policy.delay_s(attempts_made) * 1000))

    async def depth(self) -> int:
        """Jobs waiting, delayed or active: read from Redis at most every `DEPTH_MAX_AGE_S`
        (one pipeline; concurrent callers share it), plus what this process added since.
        Other processes' jobs show up within that age; `enqueue`'s own check is exact."""
        if time.monotonic() - self._depth_at < DEPTH_MAX_AGE_S:
            return self._depth + self._added_since
        async with self._depth_lock:
            if time.monotonic() - self._depth_at >= DEPTH_MAX_AGE_S:
                added_before = self._added_since  # these are in Redis before the read
                try:
                    depth, _ = await self._depth_and_existence(None)
                except (RedisError, OSError) as error:
                    raise DependencyUnavailableError("job queue unavailable") from error
                # adds that finished during the read may be counted twice: the check errs
                # on the side of full, never lets the queue past its depth
                self._depth, self._depth_at = depth, time.monotonic()
                self._added_since -= added_before
        return self._depth + self._added_since

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            raise DependencyUnavailableError("job queue unavailable") from error

    async def start(self, handler: JobHandler) -> None:
        if self._worker is not None or self._closed:
            raise RuntimeError("job queue already started or closed")

        async def process(job: Any, token: str) -> None:
            attempts = int(job.opts.get("attempts") or self._policy.max_attempts)
            order_id = str(job.data["orderId"])
            attempt = int(job.attemptsMade) + 1
            delay_s = await handler(Job(order_id, attempt, attempts, carried_order(job)))
            if delay_s is not None:
                await _reschedule(job, token, checked_delay_s(delay_s))

        opts = {**self._worker_opts, "connection": redis_client(self._url, decode_responses=True)}
        worker = LimiterAwareWorker(self._name, process, opts)
        worker.on("failed", log_failed)
        worker.on("error", log_error)
        worker.on("stalled", log_stalled)
        try:
            for connection in (worker.redisConnection, worker.blockingRedisConnection):
                await connection.getRedisVersion()  # sets capabilities: sub-second blocks
        except (RedisError, OSError) as error:
            await worker.close(force=True)
            raise DependencyUnavailableError("job queue unavailable") from error
        self._worker = worker
        self._run_task = asyncio.create_task(worker.run(), name=f"bullmq-worker-{self._name}")

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking jobs and wait up to `timeout_s` for active handlers; then cancel them.
        A cancelled job stays active in Redis until its lock expires, and the stalled-job
        check of any worker puts it back on the queue (at-least-once)."""
        if self._closed:
            return
        self._closed = True
        await self._new_jobs.close()
        if self._worker is not None:
            await self._close_worker(self._worker, timeout_s)
        with contextlib.suppress(RedisError, OSError):
            await self._queue.close()

    async def _close_worker(self, worker: Any, timeout_s: float) -> None:
        closing = asyncio.create_task(worker.close(), name="bullmq-worker-close")
        _, pending = await asyncio.wait({closing}, timeout=timeout_s)
        if pending:
            log.warning("job queue closed with handlers still running; cancelling them")
            worker.forceClosing = True
            worker.cancelProcessing()
        try:
            await closing
        except (RedisError, OSError) as error:
            log.warning("closing the BullMQ worker: %s", error)
        if self._run_task is not None:
            _, running = await asyncio.wait({self._run_task}, timeout=1.0)
            for task in running:
                task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)


async def _reschedule(job: Any, token: str, delay_s: float) -> NoReturn:
    """Move the active `job` (locked by `token`) to the delayed set, runnable `delay_s` from
    now, without counting an attempt; `DelayedError` tells the worker to leave it there."""
    runnable_at_ms = math.ceil((time.time() + delay_s) * 1000)
    await job.moveToDelayed(runnable_at_ms, token)
    raise DelayedError(f"rescheduled in {delay_s:.3f} s")
