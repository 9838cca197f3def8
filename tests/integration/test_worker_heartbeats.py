"""Worker heartbeats in Redis: each worker process keeps `PREFIX:workers:<id>` alive with a
TTL and removes it on a clean stop; `/ready` of an API is not ready while orders are queued
and no worker lives; `/metrics` shows live workers and queue depth; a worker serves its own
metrics on `--metrics-port`."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from order_engine.adapters.heartbeats import RedisWorkerHeartbeats
from order_engine.adapters.redis_client import redis_client
from tests.integration.redis_server import free_port, private_redis
from tests.integration.test_multiprocess_e2e import (
    BODY,
    cluster,
    engine_env,
    exit_code,
    migrate,
    stream,
    wait_api_ready,
    wait_worker_started,
)
from tests.pgdb import fresh_database
from tests.services import delete_prefixed_keys, require_redis_url


async def test_a_heartbeat_lives_while_beating_and_goes_with_a_clean_stop() -> None:
    url, prefix = require_redis_url(), f"oe-hb-{uuid.uuid4().hex[:8]}"
    first = RedisWorkerHeartbeats(url, prefix=prefix, interval_s=0.1)
    second = RedisWorkerHeartbeats(url, prefix=prefix, interval_s=0.1)
    client = redis_client(url)
    try:
        await first.start()
        await second.start()
        assert await first.live() == 2
        keys = [k async for k in client.scan_iter(match=f"{prefix}:workers:*")]
        ttls = [await client.pttl(k) for k in keys]
        assert len(keys) == 2 and all(0 < ttl <= 300 for ttl in ttls), ttls
        await asyncio.sleep(0.5)  # refreshed: still alive after more than one interval
        assert await first.live() == 2
        await second.stop()
        assert await first.live() == 1
        second_dead = RedisWorkerHeartbeats(url, prefix=prefix, interval_s=0.1)
        await second_dead.start()
        await second_dead.abandon()  # killed: no clean stop, the key runs out on its own
        await asyncio.sleep(0.5)
        assert await first.live() == 1
    finally:
        await first.stop()
        await client.aclose()
        await delete_prefixed_keys(url, prefix)


async def test_a_worker_beats_again_soon_after_redis_comes_back() -> None:
    """While Redis is down a beat fails; the next is tried within `RETRY_S`, not a whole
    interval later, so a restarted Redis (its keys gone) sees the worker again at once."""
    with private_redis() as redis:
        beats = RedisWorkerHeartbeats(redis.url, prefix="oe-hb", interval_s=2.0)
        await beats.start()
        try:
            assert await beats.live() == 1
            redis.stop()
            await asyncio.sleep(2.3)  # one beat fails (at 2 s)
            redis.start()  # empty: the key is gone
            deadline = asyncio.get_running_loop().time() + 1.0  # the next interval: 1.7 s
            while await beats.live() == 0:
                assert asyncio.get_running_loop().time() < deadline, "no beat 1 s after"
                await asyncio.sleep(0.05)
        finally:
            await beats.stop()


async def get_json(base: str, path: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.get(path)
    return response.status_code, response.json()


async def get_text(base: str, path: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return (await client.get(path)).text


async def test_ready_follows_the_workers_and_a_worker_serves_its_metrics(
    tmp_path: Path,
) -> None:
    async with fresh_database("oe_hb") as database_url:
        env = {**engine_env(database_url, "redis://unused"), "WORKER_HEARTBEAT_S": "0.5"}
        with private_redis() as redis, cluster(tmp_path, {**env, "REDIS_URL": redis.url}) as c:
            await migrate(c)
            port, metrics_port = free_port(), free_port()
            base, worker_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
            api = c.start("api", "api", "--port", str(port))
            worker = c.start(
                "worker", "worker", "--metrics-port", str(metrics_port), log_level="info"
            )
            await asyncio.gather(wait_api_ready(api, base), wait_worker_started(worker))

            status, body = await get_json(base, "/ready")
            assert status == 200 and body["workers"] == 1 and body["queueDepth"] == 0, body
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                accepted = (await client.post("/api/orders/execute", json=BODY)).json()
            events = await stream(accepted["wsUrl"])
            assert events[-1]["status"] == "confirmed", events
            worker_metrics = await get_text(worker_base, "/metrics")
            assert 'order_events_total{status="confirmed"} 1.0' in worker_metrics
            assert "\norder_workers_live 1.0\n" in await get_text(base, "/metrics")

            worker.process.send_signal(signal.SIGTERM)
            assert await exit_code(worker) == 0, worker.text()
            status, body = await get_json(base, "/ready")
            assert status == 200 and body["workers"] == 0, body  # idle: nothing waits
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                assert (await client.post("/api/orders/execute", json=BODY)).status_code == 201
            status, body = await get_json(base, "/ready")
            assert status == 503 and body["queueDepth"] == 1, body
            checks = body["checks"]
            assert isinstance(checks, dict) and "no live worker" in checks["workers"], body


pytestmark = pytest.mark.timeout(180)
