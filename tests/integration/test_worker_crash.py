"""SIGKILL on a worker process in the middle of a swap: the order still ends exactly once,
the swap is not sent again (the next worker asks the shared chain whether the first
attempt's transaction landed) and the order's stream shows a correct lifecycle."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from order_engine.adapters.redis_client import redis_client
from tests.e2e.harness import assert_lifecycle
from tests.integration.test_api_faults import PREFIX, production_api, wait_for_status
from tests.integration.test_multiprocess_e2e import cluster, engine_env, wait_worker_started

HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]


def submitted_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["status"] == "submitted")


async def test_sigkill_mid_swap_ends_the_order_once_without_a_second_swap(
    tmp_path: Path,
) -> None:
    async with production_api(tmp_path, command="api", latency_scale=1) as api:
        env = engine_env(api.pg_url, api.redis.url)
        # a swap takes 2-3 s; a dead worker's job is taken over after its lock (2 s) lapses
        env.update(REDIS_PREFIX=PREFIX, LATENCY_SCALE="1", JOB_LOCK_S="2")
        with cluster(tmp_path, env) as running:
            victim = running.start("victim", "worker", "--concurrency", "2", log_level="info")
            await wait_worker_started(victim)
            ids = [(await api.submit()).json()["orderId"] for _ in range(2)]
            for order_id in ids:
                await wait_for_status(api, order_id, "submitted", timeout_s=10)
            await asyncio.sleep(0.3)  # the venue has the transaction; it lands in 2-3 s

            victim.process.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(victim.process.wait, 5) == -signal.SIGKILL
            for order_id in ids:
                assert (await api.eng.client.get(f"/api/orders/{order_id}")).json()[
                    "status"
                ] == "submitted", "the kill must come before the swaps are confirmed"

            successor = running.start("successor", "worker", log_level="info")
            await wait_worker_started(successor)
            streams = await asyncio.gather(*(api.eng.stream(i) for i in ids))
            for order_id, events in zip(ids, streams, strict=True):
                assert [e["status"] for e in events] == HAPPY, successor.text()
                assert_lifecycle(events, order_id, "confirmed")
                confirmed = events[-1]
                # the transaction sent before the kill is the one that executed
                assert confirmed["txHash"] == submitted_event(events)["txHash"]
                executions = await api.eng.engine.executions(order_id)
                assert [e.tx_hash for e in executions] == [confirmed["txHash"]]
                assert str(executions[0].amount_out) == confirmed["amountOut"]


async def _until_locked(redis: Redis, key: str, start: float, timeout_s: float) -> float:
    """Seconds from `start` until `key` (a job's BullMQ lock) exists: a live worker holds
    the job."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await redis.exists(key):
                return time.monotonic() - start
            await asyncio.sleep(0.05)


@pytest.mark.timeout(150)
async def test_a_killed_workers_job_is_taken_over_within_two_lock_times_twice_running(
    tmp_path: Path,
) -> None:
    lock_s = 2.0
    async with production_api(tmp_path, command="api", latency_scale=5) as api:
        env = engine_env(api.pg_url, api.redis.url)
        # a swap takes 10-15 s: each worker is killed while it waits for the landing
        env.update(REDIS_PREFIX=PREFIX, LATENCY_SCALE="5", JOB_LOCK_S=str(lock_s),
                   QUOTE_TIMEOUT_S="5")  # fmt: skip
        redis = redis_client(api.redis.url)
        with cluster(tmp_path, env) as running:
            holder = running.start("worker-1", "worker", log_level="info")
            await wait_worker_started(holder)
            order_id = (await api.submit()).json()["orderId"]
            await wait_for_status(api, order_id, "submitted", timeout_s=10)
            lock = f"{PREFIX}:orders:{order_id}:lock"
            takeovers = []
            for n in (2, 3):
                killed_at = time.monotonic()
                holder.process.send_signal(signal.SIGKILL)
                assert await asyncio.to_thread(holder.process.wait, 5) == -signal.SIGKILL
                holder = running.start(f"worker-{n}", "worker", log_level="info")
                await wait_worker_started(holder)
                # a successor that starts after the lock lapsed (its start-up takes a second
                # or two alone, more under a parallel test run) takes over late by that much:
                # not the lock's delay, so not counted
                ready_at = time.monotonic()
                took = await _until_locked(redis, lock, killed_at, 40 * lock_s)
                takeovers.append(took - max(0.0, ready_at - killed_at - lock_s))
                assert (await api.eng.client.get(f"/api/orders/{order_id}")).json()[
                    "status"
                ] == "submitted", "each kill must come before the swap is confirmed"
            events = await api.eng.stream(order_id)
            executions = await api.eng.engine.executions(order_id)
        await redis.aclose()
    assert all(t <= 2 * lock_s + 3 for t in takeovers), takeovers
    assert [e["status"] for e in events] == HAPPY
    assert [e.tx_hash for e in executions] == [events[-1]["txHash"]]  # one swap, the first
