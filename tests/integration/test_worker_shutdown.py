"""SIGTERM on a worker process mid-swap: it stops taking jobs, lets the swap in flight
finish, exits 0 in bounded time, and leaves the jobs it had not started to other workers."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.integration.test_api_faults import PREFIX, production_api, wait_for_status
from tests.integration.test_multiprocess_e2e import cluster, engine_env, wait_worker_started


async def test_sigterm_lets_the_swap_in_flight_finish_and_hands_back_the_rest(
    tmp_path: Path,
) -> None:
    async with production_api(tmp_path, command="api") as api:
        env = engine_env(api.pg_url, api.redis.url)
        env.update(REDIS_PREFIX=PREFIX, LATENCY_SCALE="1")  # a swap takes 2-3 s
        with cluster(tmp_path, env) as running:
            worker = running.start("worker", "worker", "--concurrency", "1", log_level="info")
            await wait_worker_started(worker)
            in_flight = (await api.submit()).json()["orderId"]
            queued = (await api.submit()).json()["orderId"]
            await wait_for_status(api, in_flight, "submitted", timeout_s=10)

            worker.process.send_signal(signal.SIGTERM)
            began = time.monotonic()
            code = await asyncio.to_thread(worker.process.wait, 15)
            assert code == 0, worker.text()
            assert time.monotonic() - began < 10, "the worker must exit in bounded time"
            order = (await api.eng.client.get(f"/api/orders/{in_flight}")).json()
            assert order["status"] == "confirmed", (order, worker.text())
            assert (await api.eng.client.get(f"/api/orders/{queued}")).json()["status"] == "pending"

            successor = running.start("successor", "worker", log_level="info")
            await wait_worker_started(successor)
            await wait_for_status(api, queued, "confirmed", timeout_s=20)
            events = (await api.eng.client.get(f"/api/orders/{queued}/events")).json()["events"]
            assert [e["status"] for e in events] == [
                "pending",
                "routing",
                "building",
                "submitted",
                "confirmed",
            ]
