"""Redis (run without persistence) restarted while orders are in flight: the database is
the source of truth, so no accepted order is lost and none executes twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.harness import assert_lifecycle
from tests.integration.redis_server import private_redis
from tests.integration.test_api_faults import production_api

TERMINAL = {"confirmed", "failed"}


async def test_orders_in_flight_survive_a_redis_restart(tmp_path: Path) -> None:
    # The simulated chain is not the engine's Redis: a blockchain does not forget swaps when
    # the engine's Redis restarts, so it lives on a Redis of its own here.
    with private_redis() as chain:
        await _restart_redis_with_orders_in_flight(tmp_path, chain.url)


async def _restart_redis_with_orders_in_flight(tmp_path: Path, chain_url: str) -> None:
    async with production_api(
        tmp_path,
        command="serve",
        latency_scale=0.2,
        recovery_interval_s=0.3,
        worker_concurrency=2,
        sim_chain_url=chain_url,
    ) as api:
        ids = []
        for response in await asyncio.gather(*(api.submit() for _ in range(12))):  # queued at once
            assert response.status_code == 201, response.text
            ids.append(response.json()["orderId"])
        await asyncio.sleep(0.25)  # quotes take ~40 ms and swaps ~0.4-0.6 s: 2 are mid-swap
        states = [(await api.eng.client.get(f"/api/orders/{i}")).json()["status"] for i in ids]
        assert states.count("pending") >= 6, f"most orders should still be queued: {states}"

        api.redis.stop()  # every job, delayed retry and stream in Redis is gone
        api.redis.start()

        async with asyncio.timeout(30):
            while True:
                orders = [(await api.eng.client.get(f"/api/orders/{i}")).json() for i in ids]
                if all(o["status"] in TERMINAL for o in orders):
                    break
                await asyncio.sleep(0.1)
        for order_id in ids:
            events = (await api.eng.client.get(f"/api/orders/{order_id}/events")).json()
            assert_lifecycle(events["events"], order_id, "confirmed")
            executed = len(await api.eng.engine.executions(order_id))
            assert executed == 1, (order_id, executed)
