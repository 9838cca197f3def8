"""Production mode end to end: `order-engine migrate`, two `api` and two `worker` processes
sharing a fresh PostgreSQL database and a private Redis; every order is accepted by one API
and streamed from the other (cross-process fan-out), and every process stops cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from order_engine.settings import Settings
from tests.integration.redis_server import free_port, private_redis
from tests.pgdb import fresh_database

ORDER_ENGINE = Path(sys.executable).parent / "order-engine"
ORDERS = 200
IN_FLIGHT = 20
START_TIMEOUT_S = 90.0  # a deadline under load, not a speed check (an exit fails at once)
STOP_TIMEOUT_S = 15.0
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]
# 1% slippage: the ±0.5% execution drift plus the pool moved by the other swaps in flight
# can exceed the default 0.5% (and retry); this test is about fan-out, not slippage.
BODY = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 100}
ROUTE_LINE = re.compile(r" order_engine\.engine\.paths: route ")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """The processes of one test; `kill_all` is the safety net of the teardown."""

    cwd: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, *args: str, log_level: str = "warning") -> Proc:
        log = self.cwd / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(ORDER_ENGINE), *args],
                cwd=self.cwd,
                env={**self.env, "LOG_LEVEL": log_level},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.process.poll() is None:
                proc.process.kill()
                proc.process.wait()


def engine_env(database_url: str, redis_url: str) -> dict[str, str]:
    """This environment without any engine setting, plus the production settings."""
    names = set(Settings.model_fields)
    env = {k: v for k, v in os.environ.items() if k.lower() not in names}
    env.update(
        DATABASE_URL=database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        REDIS_URL=redis_url,
        REDIS_PREFIX=f"oe-mp-{uuid.uuid4().hex[:12]}",
        LATENCY_SCALE="0",
        RATE_LIMIT_MAX="0",
        RNG_SEED="7",
        AUTH_MODE="open",  # on 127.0.0.1: calls without a key act for the local account
    )
    return env


@contextmanager
def cluster(cwd: Path, env: dict[str, str]) -> Iterator[Cluster]:
    running = Cluster(cwd, env)
    try:
        yield running
    finally:
        running.kill_all()


async def migrate(running: Cluster) -> None:
    proc = running.start("migrate", "migrate")
    code = await asyncio.to_thread(proc.process.wait, 60)
    assert code == 0, proc.text()


async def wait_until(proc: Proc, ready: Any, what: str) -> None:
    """Poll `await ready()` until true; fail early with the log if the process exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            pytest.fail(f"{proc.name} exited with {proc.process.returncode}:\n{proc.text()}")
        if await ready():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{proc.name} not {what} within {START_TIMEOUT_S}s:\n{proc.text()}")


async def wait_api_ready(proc: Proc, base_url: str) -> None:
    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(f"{base_url}/ready")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_until(proc, ready, "ready")


async def wait_worker_started(proc: Proc) -> None:
    async def started() -> bool:
        return "worker started" in proc.text()

    await wait_until(proc, started, "started")


async def stream(ws_url: str) -> list[dict[str, Any]]:
    """Every event until the server closes the socket, which must be a normal close."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(20), connect(ws_url, open_timeout=10) as ws:
        async for message in ws:
            events.append(orjson.loads(message))
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return events


async def submit_and_watch(
    accept: httpx.AsyncClient, watch_base: str, gate: asyncio.Semaphore
) -> tuple[str, list[dict[str, Any]]]:
    """POST to one API, then stream the order from the other one."""
    async with gate:
        response = await accept.post("/api/orders/execute", json=BODY)
        assert response.status_code == 201, response.text
        body = response.json()
        accepted_ws = str(accept.base_url).replace("http://", "ws://").rstrip("/")
        assert body["wsUrl"].startswith(accepted_ws + "/"), body
        events = await stream(watch_base + body["wsUrl"][len(accepted_ws) :])
        return body["orderId"], events


def assert_happy_lifecycle(order_id: str, events: list[dict[str, Any]]) -> None:
    assert [e["status"] for e in events] == HAPPY, (order_id, events)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5], (order_id, events)
    assert all(e["orderId"] == order_id for e in events), events
    assert all(isinstance(e["tsMs"], int) for e in events), events
    assert [e["attempt"] for e in events] == [0, 1, 1, 1, 1], events  # accepted, then attempt 1
    assert events[-1]["txHash"] and events[-1]["dex"], events[-1]


async def run_orders(bases: list[str]) -> dict[str, list[dict[str, Any]]]:
    ws_bases = [b.replace("http://", "ws://") for b in bases]
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=10) as first,
        httpx.AsyncClient(base_url=bases[1], timeout=10) as second,
    ):
        clients = [first, second]
        results = await asyncio.gather(
            *(submit_and_watch(clients[i % 2], ws_bases[(i + 1) % 2], gate) for i in range(ORDERS))
        )
    return dict(results)


async def stored_orders(database_url: str) -> dict[str, tuple[str, int, int]]:
    """orderId -> (status, seq, number of events), read straight from PostgreSQL."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT o.id, o.status, o.seq, count(e.seq) AS events FROM orders o "
            "LEFT JOIN order_events e ON e.order_id = o.id GROUP BY o.id"
        )
    finally:
        await conn.close()
    return {r["id"]: (r["status"], r["seq"], r["events"]) for r in rows}


async def exit_code(proc: Proc) -> int | None:
    try:
        return await asyncio.to_thread(proc.process.wait, STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


async def stop_all(procs: list[Proc]) -> dict[str, int | None]:
    """SIGTERM every process at once; each exit code (None: still running at the deadline)."""
    for proc in procs:
        proc.process.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(exit_code(proc) for proc in procs))
    return {proc.name: code for proc, code in zip(procs, codes, strict=True)}


async def submit_only(bases: list[str], count: int) -> list[str]:
    """Accept `count` more orders (alternating APIs) without waiting for their execution."""
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=10) as first,
        httpx.AsyncClient(base_url=bases[1], timeout=10) as second,
    ):
        clients = [first, second]
        responses = await asyncio.gather(
            *(clients[i % 2].post("/api/orders/execute", json=BODY) for i in range(count))
        )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    return [r.json()["orderId"] for r in responses]


async def start_cluster(running: Cluster) -> tuple[list[str], list[Proc], list[Proc]]:
    """Migrate, then two APIs and two workers; returns once all four are ready."""
    await migrate(running)
    ports = [free_port(), free_port()]
    apis = [running.start(f"api-{p}", "api", "--port", str(p)) for p in ports]
    workers = [running.start(f"worker-{n}", "worker", log_level="info") for n in (1, 2)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    await asyncio.gather(
        *(wait_api_ready(proc, base) for proc, base in zip(apis, bases, strict=True)),
        *(wait_worker_started(proc) for proc in workers),
    )
    return bases, apis, workers


async def test_two_apis_and_two_workers_share_postgres_and_redis(tmp_path: Path) -> None:
    async with fresh_database("oe_mp") as database_url:
        with private_redis() as redis, cluster(tmp_path, engine_env(database_url, redis.url)) as c:
            bases, apis, workers = await start_cluster(c)

            streamed = await run_orders(bases)
            assert len(streamed) == ORDERS
            for order_id, events in streamed.items():
                assert_happy_lifecycle(order_id, events)
            stored = await stored_orders(database_url)
            assert stored == {order_id: ("confirmed", 5, 5) for order_id in streamed}

            # a last batch still executing when SIGTERM arrives: a stopping worker finishes
            # what it started and leaves the rest queued, never an order stuck halfway
            late = await submit_only(bases, IN_FLIGHT)
            exits = await stop_all([*apis, *workers])
            logs = {proc.name: proc.text() for proc in c.procs}
            assert exits == {proc.name: 0 for proc in [*apis, *workers]}, (exits, logs)
            assert not any("Traceback" in text for text in logs.values()), logs

            stored = await stored_orders(database_url)
            late_states = {stored[order_id] for order_id in late}
            assert late_states <= {("confirmed", 5, 5), ("pending", 1, 1)}, late_states
            started = ORDERS + sum(stored[i][0] == "confirmed" for i in late)
            routed = {w.name: len(ROUTE_LINE.findall(logs[w.name])) for w in workers}
            assert sum(routed.values()) == started, routed
            assert all(count > 0 for count in routed.values()), routed
