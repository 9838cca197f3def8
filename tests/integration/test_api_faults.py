"""The production-mode API (PostgreSQL + BullMQ on Redis) when a dependency fails: a full
queue answers 429, Redis or PostgreSQL down answers 503 (never 500) and writes nothing
anywhere, and the API recovers on its own once Redis is back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.sql import create_engine
from order_engine.adapters.sql.schema import migrate
from order_engine.settings import Settings
from tests.e2e.harness import RunningEngine, assert_error, serving
from tests.integration.redis_server import RedisServer, private_redis
from tests.pgdb import admin_dsn, fresh_database

PREFIX = "oe_faults"
QUEUE_KEYS = tuple(f"{PREFIX}:orders:{s}" for s in ("wait", "paused", "active"))
QUEUE_ZSETS = tuple(f"{PREFIX}:orders:{s}" for s in ("prioritized", "delayed"))
DRIVER_WORDS = ("asyncpg", "errno", "refused", "does not exist", "terminat", "sqlalchemy")
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}


@dataclass
class ProductionApi:
    eng: RunningEngine
    pg_url: str
    redis: RedisServer

    async def submit(self) -> httpx.Response:
        return await self.eng.client.post("/api/orders/execute", json=ORDER)

    async def stored_order_count(self) -> int:
        """Rows in the `orders` table, read straight from PostgreSQL."""
        dsn = make_url(self.pg_url).set(drivername="postgresql")
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)
        try:
            count: int = await conn.fetchval("SELECT count(*) FROM orders")
        finally:
            await conn.close()
        return count

    async def queue_depth(self) -> int:
        """Waiting, active and delayed BullMQ jobs, read straight from Redis."""
        client = redis_client(self.redis.url)
        try:
            lengths = [await client.llen(key) for key in QUEUE_KEYS]
            lengths += [await client.zcard(key) for key in QUEUE_ZSETS]
        finally:
            await client.aclose()
        return sum(lengths)


@contextlib.asynccontextmanager
async def production_api(
    tmp_path: Path, command: str = "api", **overrides: Any
) -> AsyncIterator[ProductionApi]:
    """The API on a fresh, migrated PostgreSQL database and a private redis-server."""
    async with fresh_database("oe_faults") as pg_url:
        engine = create_engine(pg_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        with private_redis() as redis:
            defaults: dict[str, Any] = {
                "data_dir": tmp_path,
                "database_url": pg_url,
                "redis_url": redis.url,
                "redis_prefix": PREFIX,
                "latency_scale": 0,
                "rng_seed": 7,
                "backoff_base_s": 0.01,
                "rate_limit_max": 0,
                "auth_mode": "open",
                "_env_file": None,
            }
            settings = Settings(**{**defaults, **overrides})
            async with serving(settings, command) as eng:
                yield ProductionApi(eng, pg_url, redis)


def assert_no_driver_text(error: dict[str, Any]) -> None:
    assert not any(word in error["message"].lower() for word in DRIVER_WORDS), error


async def wait_for_status(api: ProductionApi, order_id: str, status: str, timeout_s: float) -> None:
    got = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while got != status:
                response = await api.eng.client.get(f"/api/orders/{order_id}")
                got = response.json().get("status")
                await asyncio.sleep(0.05)
    assert got == status, f"order {order_id} is {got}, expected {status}"


async def test_flood_beyond_queue_depth_answers_429_and_stores_only_what_it_queued(
    tmp_path: Path,
) -> None:
    async with production_api(tmp_path, queue_max_depth=5) as api:
        accepted = [await api.submit() for _ in range(5)]
        assert [r.status_code for r in accepted] == [201] * 5, [r.text for r in accepted]
        for _ in range(4):
            refused = await api.submit()
            assert_error(refused, 429, code="queue_full")
            assert int(refused.headers["retry-after"]) >= 1
        assert await api.stored_order_count() == 5
        assert await api.queue_depth() == 5


async def test_concurrent_flood_accepts_exactly_the_queue_depth(tmp_path: Path) -> None:
    async with production_api(tmp_path, queue_max_depth=5) as api:
        answers = await asyncio.gather(*(api.submit() for _ in range(30)))
        accepted = [r for r in answers if r.status_code == 201]
        for refused in (r for r in answers if r.status_code != 201):
            assert_error(refused, 429, code="queue_full")
            assert int(refused.headers["retry-after"]) >= 1
        assert len(accepted) == 5
        assert await api.stored_order_count() == 5
        assert await api.queue_depth() == 5


async def test_redis_down_answers_503_stores_nothing_and_recovers(tmp_path: Path) -> None:
    async with production_api(tmp_path, command="serve") as api:
        first = await api.submit()
        assert first.status_code == 201, first.text
        await wait_for_status(api, first.json()["orderId"], "confirmed", timeout_s=5)

        api.redis.stop()
        started = time.monotonic()
        refused = await api.submit()
        error = assert_error(refused, 503, code="dependency_unavailable")
        assert time.monotonic() - started < 5, "a refused POST must answer promptly"
        ready = await api.eng.client.get("/ready")
        assert ready.status_code == 503, ready.text
        checks = ready.json()["checks"]
        assert checks["database"] == "ok" and checks["queue"] != "ok", checks
        # a submit's first Redis call: the account's orders-per-minute window (then the queue)
        assert error["message"] == "Redis is unavailable (rate window)", error
        assert await api.stored_order_count() == 1  # nothing stored for the refused POST

        api.redis.start()
        response = await recovered_submit(api, within_s=5)
        await wait_for_status(api, response.json()["orderId"], "confirmed", timeout_s=8)
        # the restarted Redis lost the workers' heartbeats: until the next beat (at most
        # WORKER_HEARTBEAT_S, 5 s) a job still finishing reads as "no live worker"
        await wait_ready(api, within_s=8)
        assert await api.stored_order_count() == 2


async def test_redis_lost_between_admission_and_enqueue_keeps_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with production_api(tmp_path) as api:
        queue = api.eng.engine.queue
        admission_depth = queue.depth

        async def depth_then_redis_dies() -> int:
            depth = await admission_depth()
            api.redis.stop()  # Redis goes away after the admission check, before the enqueue
            return depth

        monkeypatch.setattr(queue, "depth", depth_then_redis_dies)
        refused = await api.submit()
        assert_error(refused, 503, code="dependency_unavailable")
        assert await api.stored_order_count() == 0, "a refused order must leave no row"


async def test_redis_down_503_names_no_driver_details(tmp_path: Path) -> None:
    async with production_api(tmp_path) as api:
        api.redis.stop()
        error = assert_error(await api.submit(), 503, code="dependency_unavailable")
        queue_check = (await api.eng.client.get("/ready")).json()["checks"]["queue"]
        for text in (error["message"], queue_check):
            leaked = ("error", "connect", "socket", "closed", "reset", str(api.redis.port))
            assert not any(word in text.lower() for word in leaked), text


async def wait_ready(api: ProductionApi, within_s: float) -> None:
    """`/ready` answers 200 again within `within_s` (the last answer in the failure)."""
    deadline = time.monotonic() + within_s
    while True:
        ready = await api.eng.client.get("/ready")
        if ready.status_code == 200 or time.monotonic() > deadline:
            assert ready.status_code == 200, ready.text
            return
        await asyncio.sleep(0.1)


async def recovered_submit(api: ProductionApi, within_s: float) -> httpx.Response:
    """POST until it is accepted again; every answer meanwhile is a 503, never a 500."""
    deadline = time.monotonic() + within_s
    while True:
        response = await api.submit()
        if response.status_code == 201 or time.monotonic() > deadline:
            assert response.status_code == 201, response.text
            return response
        assert_error(response, 503, code="dependency_unavailable")
        await asyncio.sleep(0.1)


async def test_postgres_gone_answers_503_and_queues_nothing(tmp_path: Path) -> None:
    async with production_api(tmp_path) as api:
        first = await api.submit()
        assert first.status_code == 201, first.text
        assert await api.queue_depth() == 1

        await drop_database(api.pg_url)
        refused = await api.submit()
        error = assert_error(refused, 503, code="dependency_unavailable")
        assert_no_driver_text(error)
        assert await api.queue_depth() == 1  # no job without its row
        ready = await api.eng.client.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"] != "ok"
        assert ready.json()["checks"]["queue"] == "ok"


async def drop_database(url: str) -> None:
    """Drop the API's database under it, ending its sessions (as an outage would)."""
    parsed = make_url(url)
    admin = await asyncpg.connect(admin_dsn(parsed), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE "{parsed.database}" WITH (FORCE)')
    finally:
        await admin.close()
