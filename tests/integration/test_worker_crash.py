"""SIGKILL on a worker process in the middle of a swap: the order still ends exactly once,
the swap is not sent again (the next worker asks the shared chain whether the first
attempt's transaction landed) and the order's stream shows a correct lifecycle."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

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
