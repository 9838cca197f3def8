"""In-process `JobQueue` (embedded mode and test fake) with BullMQ's semantics.

One dispatcher task takes jobs in FIFO order when a concurrency slot is free and the rate
limiter allows a start, and runs each in its own task. A delayed job (a delayed enqueue, a
reschedule its handler asked for, a failed job waiting out the policy's backoff) waits on a
loop timer, not in a task. Jobs live only in memory: after a restart the engine recovers
unfinished orders from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from order_engine.adapters.queue_limits import checked_delay_s, full_queue_retry_after_s
from order_engine.domain.errors import CapacityError, DependencyUnavailableError, EngineError
from order_engine.domain.orders import Order
from order_engine.engine.ports import Job, JobHandler
from order_engine.engine.retry import RetryPolicy

log = logging.getLogger(__name__)


class SlidingWindowLimiter:
    """At most `max_starts` starts in ANY interval of `window_s` seconds (0 = no limit): a
    log of the last `max_starts` start times; a start waits until the oldest one is a whole
    window old. Stricter than a fixed window, which lets two windows' worth through around
    a window boundary."""

    def __init__(self, max_starts: int, window_s: float) -> None:
        self._max = max_starts
        self._window_s = window_s
        self._starts: deque[float] = deque(maxlen=max(max_starts, 1))

    @property
    def enabled(self) -> bool:
        return self._max > 0 and self._window_s > 0

    async def acquire(self) -> None:
        """Take one start, sleeping once until a slot frees up. Meant for a single caller
        (the dispatcher)."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        if len(self._starts) == self._max:
            wait = self._starts[0] + self._window_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._starts.append(loop.time())


class InMemoryJobQueue:
    """`JobQueue` in one process: dedup by order id, bounded depth, `concurrency` handlers
    at once, a global sliding-window rate limit, delayed jobs and reschedules, and retries
    with exponential backoff."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        concurrency: int = 10,
        rate_limit_max: int = 100,
        rate_limit_window_s: float = 60.0,
        max_depth: int = 10_000,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._policy = policy
        self._max_depth = max_depth
        self._limiter = SlidingWindowLimiter(rate_limit_max, rate_limit_window_s)
        self._retry_after_s = full_queue_retry_after_s(rate_limit_max, rate_limit_window_s)
        self._waiting: deque[Job] = deque()
        self._ids: set[str] = set()  # waiting, delayed or active
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._active: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._job_ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False

    async def enqueue(
        self, order_id: str, *, delay_s: float = 0.0, new: bool = False, order: Order | None = None
    ) -> bool:
        """`new` changes nothing here: the checks cost no round trip. `order` is copied (the
        caller's own may still be read, e.g. to answer the request)."""
        delay_s = checked_delay_s(delay_s)
        if self._closed:
            raise DependencyUnavailableError("job queue is closed")
        if order_id in self._ids:
            return False
        if len(self._ids) >= self._max_depth:
            raise CapacityError(
                f"queue holds its maximum of {self._max_depth} jobs",
                retry_after_s=self._retry_after_s,
            )
        self._ids.add(order_id)
        self._idle.clear()
        carried = None if order is None else order.copy()
        self._later(delay_s, Job(order_id, 1, self._policy.max_attempts, carried))
        return True

    async def depth(self) -> int:
        return len(self._ids)

    async def start(self, handler: JobHandler) -> None:
        if self._dispatcher is not None or self._closed:
            raise RuntimeError("job queue already started or closed")
        self._dispatcher = asyncio.create_task(self._dispatch(handler), name="job-dispatcher")
        self._dispatcher.add_done_callback(_log_dispatcher_crash)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking jobs, drop delayed ones (retries, reschedules, delayed enqueues), wait
        up to `timeout_s` for active handlers and cancel those still running. Jobs not
        started stay unprocessed; a handler that finishes meanwhile is neither retried nor
        rescheduled."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        if not self._active:
            return
        _, pending = await asyncio.wait(set(self._active), timeout=timeout_s)
        if pending:
            log.warning("job queue closed with %d handlers still running; cancelling", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def ping(self) -> None:
        return None

    async def join(self) -> None:
        """Wait until no job is waiting, delayed or active (tests and benchmarks)."""
        await self._idle.wait()

    def _later(self, delay_s: float, job: Job) -> None:
        """Make `job` runnable now (0) or when a loop timer fires after `delay_s`."""
        if delay_s == 0:
            self._push(job)
            return
        loop = asyncio.get_running_loop()
        self._timers[job.order_id] = loop.call_later(delay_s, self._promote, job)

    def _push(self, job: Job) -> None:
        self._waiting.append(job)
        self._job_ready.set()

    def _forget(self, order_id: str) -> None:
        self._ids.discard(order_id)
        if not self._ids:
            self._idle.set()

    async def _dispatch(self, handler: JobHandler) -> None:
        while True:
            await self._slots.acquire()
            while not self._waiting:
                self._job_ready.clear()
                await self._job_ready.wait()
            await self._limiter.acquire()
            job = self._waiting.popleft()
            task = asyncio.create_task(self._run(job, handler), name=f"job-{job.order_id}")
            self._active.add(task)
            task.add_done_callback(self._active.discard)

    async def _run(self, job: Job, handler: JobHandler) -> None:
        try:
            delay_s = await handler(job)
            if delay_s is not None:
                delay_s = checked_delay_s(delay_s)
        except Exception as error:
            self._after_failure(job, error)
        else:
            if delay_s is None:
                self._forget(job.order_id)
            elif self._closed:
                log.info("job %s rescheduled while the queue closed; dropped", job.order_id)
            else:  # the same delivery again: no attempt used (the order is read then)
                self._later(delay_s, Job(job.order_id, job.attempt, job.max_attempts))
        finally:
            self._slots.release()

    def _after_failure(self, job: Job, error: Exception) -> None:
        if job.is_last_attempt:
            log.error(
                "job %s failed on attempt %d/%d; dropped: %s",
                job.order_id,
                job.attempt,
                job.max_attempts,
                _reason(error),
                exc_info=_traceback(error),
            )
            self._forget(job.order_id)
            return
        if self._closed:
            log.info("job %s failed while the queue closed; not retried", job.order_id)
            return
        delay_s = self._policy.delay_s(job.attempt)
        log.warning(
            "job %s failed on attempt %d/%d; retrying in %.2f s: %s",
            job.order_id,
            job.attempt,
            job.max_attempts,
            delay_s,
            _reason(error),
            exc_info=_traceback(error),
        )
        self._later(delay_s, Job(job.order_id, job.attempt + 1, job.max_attempts))

    def _promote(self, job: Job) -> None:
        self._timers.pop(job.order_id, None)
        self._push(job)


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, EngineError) else repr(error)


def _traceback(error: Exception) -> Exception | None:
    """An expected condition (an `EngineError`: an outage, a venue's refusal) is one line
    with its reason; anything else is a bug and keeps its traceback."""
    return None if isinstance(error, EngineError) else error


def _log_dispatcher_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("job dispatcher stopped", exc_info=task.exception())
