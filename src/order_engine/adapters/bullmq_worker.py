"""The worker side of `BullMqJobQueue`: bullmq-python's `Worker` with the limiter's wait
(`LimiterAwareWorker`), what a delivered job carries (`carried_order`) and the worker's
log lines."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bullmq import Worker

from order_engine.adapters.order_json import order_from_json
from order_engine.domain.orders import Order

log = logging.getLogger("order_engine.adapters.bullmq_queue")  # one name for the queue's lines


class LimiterAwareWorker(Worker):  # type: ignore[misc]
    """A BullMQ worker that, when the rate limiter refuses a job, blocks until the limiter
    key expires (bullmq-python keeps that time in `limitUntil` but never waits on it), in
    reads of at most `drainDelay`: on Python 3.11 a cancel that lands while redis-py
    sends a command (`asyncio.wait_for` under its socket timeout) is lost, so `close()` can
    wait out a whole blocking read; the cap bounds that wait.

    And, as the Node worker does, a slot whose job completed takes the next one in the
    same round trip (`moveToFinished`'s fetch-next; bullmq-python asks for none and then
    moves the next job to active by a second script call): `processJob` returns the job
    its completion fetched, and the run loop processes what a slot's future returns.

    Free slots ask for a job one at a time (`getNextJob`): bullmq-python's loop starts a
    request for every free slot at once, so a job arriving at an empty queue woke one and
    then ran a moveToActive script for each of the others, all but one finding nothing
    (~30 scripts per job at 20 slots). In turn, one takes the job, the next finds the
    queue empty and blocks on it, the rest wait behind it; from a backlog the slots still
    fill, a round trip each. A closing worker moves no job to active, whatever wakes it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asking = asyncio.Lock()  # held by the free slot asking Redis for a job
        self._fetched: dict[str, Any] = {}  # job id -> what its completion fetched
        complete = self.backend.moveToCompleted

        async def complete_and_fetch(
            job: Any, result: Any, remove: Any, token: str, fetch_next: bool = False
        ) -> Any:
            fetch = not self.closing  # a closing worker takes no new job
            answer = await complete(job, result, remove, token, fetch_next=fetch)
            if fetch:
                self._fetched[job.id] = answer["result"]
            return answer

        self.backend.moveToCompleted = complete_and_fetch

    async def getNextJob(self, token: str) -> Any:
        async with self._asking:
            if self.closing or self.paused:
                return None  # the slots queued behind a closing or pausing one ask nothing
            return await super().getNextJob(token)

    async def moveToActive(self, token: str) -> Any:
        if self.closing:  # e.g. a blocking wait whose cancellation was lost (see above)
            return None  # ended while closing: the job stays for any worker
        return await super().moveToActive(token)

    async def processJob(self, job: Any, token: str) -> Any:
        await super().processJob(job, token)
        fetched = self._fetched.pop(job.id, None)
        if not fetched:
            return None  # failed, rescheduled, cancelled or closing: the loop asks again
        job_data, job_id, limit_until, delay_until = fetched
        return await self.nextJobFromJobData(
            job_data, job_id, limit_until or 0, delay_until or 0, token
        )

    def getBlockTimeout(self, block_until: int) -> float:
        timeout = float(super().getBlockTimeout(block_until))
        return min(timeout, max(float(self.opts["drainDelay"]), float(self.minimumBlockTimeout)))

    async def nextJobFromJobData(
        self,
        job_data: dict[str, Any] | None = None,
        job_id: str | None = None,
        limit_until: int = 0,
        delay_until: int = 0,
        token: str | None = None,
    ) -> Any:
        if not job_data and limit_until and limit_until > 0:
            reopens_at = int(time.time() * 1000) + int(limit_until)
            delay_until = max(int(delay_until or 0), reopens_at)
        return await super().nextJobFromJobData(job_data, job_id, limit_until, delay_until, token)


def carried_order(job: Any) -> Order | None:
    """The order the job carries, on its first delivery only: not after a failed attempt
    (`attemptsMade`), a reschedule or a stall (each starts it again: `attemptsStarted`
    counts every move to active, `stalledCounter` the redeliveries after a dead worker)."""
    raw = job.data.get("order")
    first = int(job.attemptsMade) == 0 and int(job.attemptsStarted) <= 1
    if raw is None or not first or int(job.stalledCounter) > 0:
        return None
    try:
        return order_from_json(raw)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        log.warning("job %s carries an order that does not read (%r); reading the store",
                    job.id, error)  # fmt: skip
        return None


def log_failed(job: Any, error: BaseException) -> None:
    attempt, attempts = int(job.attemptsMade), int(job.opts.get("attempts") or 1)
    outcome = "dropped" if attempt >= attempts else "retrying after backoff"
    log.warning("job %s failed on attempt %d/%d; %s: %r", job.id, attempt, attempts, outcome, error)


def log_error(error: BaseException, *_job: Any) -> None:
    log.error("BullMQ worker error: %r", error)


def log_stalled(job_id: str, *_args: Any) -> None:
    log.warning("job %s stalled (its worker died or hung); moved back to wait", job_id)
