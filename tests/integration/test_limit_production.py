"""Limit and sniper orders in production mode: BullMQ's delayed jobs watch the pair across
worker processes, a waiting order survives its worker being killed, and a launch announced
by the API process fires the snipers in a worker process."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.e2e.harness import assert_lifecycle, statuses
from tests.integration.test_api_faults import PREFIX, production_api, wait_for_status
from tests.integration.test_multiprocess_e2e import cluster, engine_env, wait_worker_started

LIMIT = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "type": "limit"}


async def test_waiting_orders_outlive_a_killed_worker_then_fill_or_expire(tmp_path: Path) -> None:
    async with production_api(tmp_path, command="api") as api:
        env = engine_env(api.pg_url, api.redis.url)
        # a watch job that was running when its worker died is taken over after 2 s
        env.update(REDIS_PREFIX=PREFIX, LIMIT_CHECK_INTERVAL_S="0.2", JOB_LOCK_S="2")
        with cluster(tmp_path, env) as running:
            first = running.start("first", "worker", log_level="info")
            await wait_worker_started(first)
            post = api.eng.client.post
            fills = (await post("/api/orders/execute", json={**LIMIT, "limitPrice": "100"})).json()
            body = {**LIMIT, "limitPrice": "1000", "timeInForceSeconds": 4}
            expires = (await post("/api/orders/execute", json=body)).json()
            await wait_for_status(api, fills["orderId"], "confirmed", timeout_s=10)
            await wait_for_status(api, expires["orderId"], "waiting", timeout_s=10)

            first.process.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(first.process.wait, 5) == -signal.SIGKILL
            second = running.start("second", "worker", log_level="info")
            await wait_worker_started(second)
            async with asyncio.timeout(20):
                expired = await api.eng.stream(expires["orderId"])
            filled = await api.eng.stream(fills["orderId"])

    assert statuses(filled) == [
        "pending",
        "waiting",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]
    assert_lifecycle(filled, fills["orderId"], "confirmed")
    assert statuses(expired) == ["pending", "waiting", "expired"], second.text()
    assert_lifecycle(expired, expires["orderId"], "expired")
    assert expired[-1]["tsMs"] - expired[0]["tsMs"] >= 4_000


async def test_a_launch_on_the_api_fires_snipers_in_another_worker_process(tmp_path: Path) -> None:
    """The launch is announced by the API process; the worker process hears it on Redis,
    opens the pool in its own venues and fires the waiting sniper orders."""
    async with production_api(tmp_path, command="api") as api:
        env = engine_env(api.pg_url, api.redis.url)
        env.update(REDIS_PREFIX=PREFIX, LIMIT_CHECK_INTERVAL_S="0.2")
        with cluster(tmp_path, env) as running:
            worker = running.start("worker", "worker", log_level="info")
            await wait_worker_started(worker)
            post = api.eng.client.post
            body = {"tokenIn": "SOL", "tokenOut": "PRODX", "amountIn": "0.5", "type": "sniper"}
            ids = [
                (await post("/api/orders/execute", json={**body, "slippageBps": 500})).json()[
                    "orderId"
                ]
                for _ in range(3)
            ]
            for order_id in ids:
                await wait_for_status(api, order_id, "waiting", timeout_s=10)
            launch = {"symbol": "PRODX", "venue": "meteora", "price": "0.002"}
            response = await post("/api/admin/launch", json=launch)
            assert response.status_code == 201, response.text
            async with asyncio.timeout(20):
                streams = await asyncio.gather(*(api.eng.stream(i) for i in ids))

    for order_id, events in zip(ids, streams, strict=True):
        assert statuses(events)[-1] == "confirmed", worker.text()
        assert_lifecycle(events, order_id, "confirmed")
        assert events[-1]["dex"] == "meteora"
    assert "sniper orders fired" in worker.text()
