"""Production mode on the chain under faults: a worker killed with SIGKILL while its swaps
are in flight (its successor settles the first signatures: exactly one swap per order in
the chain's history), a `localnet` restarted (durable: nothing lost), and an RPC endpoint
that errs for a while (orders wait and retry; none fails, none executes twice)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.chain_helpers import program_binaries
from tests.integration.redis_server import free_port, private_redis
from tests.integration.test_chain_production import landed_swaps, wait_localnet
from tests.integration.test_multiprocess_e2e import (
    BODY,
    HAPPY,
    Cluster,
    Proc,
    cluster,
    engine_env,
    migrate,
    stream,
    wait_api_ready,
    wait_worker_started,
)
from tests.pgdb import fresh_database


@asynccontextmanager
async def chain_cluster(tmp_path: Path, **localnet_env: str) -> AsyncIterator[tuple[Cluster, str]]:
    """A fresh database and Redis, a `localnet` (with `localnet_env`), migrated; the
    engine's environment points at it."""
    data = tmp_path / "localnet"
    async with fresh_database("oe_chainf") as database_url:
        with private_redis() as redis:
            env = engine_env(database_url, redis.url)
            env.update(
                DATA_DIR=str(data), PROGRAMS_DIR=str(program_binaries().source),
                MARKET_INTERVAL_S="0", BACKOFF_BASE_S="0.05",
            )  # fmt: skip
            with cluster(tmp_path, env) as c:
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                c.env.update(localnet_env)
                localnet = c.start("localnet", "localnet", "--port", str(port))
                await wait_localnet(localnet, url)
                for key in localnet_env:
                    c.env.pop(key)
                c.env.update(
                    SOLANA_RPC_URL=url, WALLET_KEYPAIR=str(data / "wallet.json"),
                    DATA_DIR=str(tmp_path / "engine"),
                )  # fmt: skip
                await migrate(c)
                yield c, url


async def start_api(c: Cluster) -> str:
    port = free_port()
    proc = c.start(f"api-{port}", "api", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    await wait_api_ready(proc, base)
    return base


async def start_worker(c: Cluster, name: str, *args: str) -> Proc:
    proc = c.start(name, "worker", *args, log_level="info")
    await wait_worker_started(proc)
    return proc


async def submit(base: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answers = [await client.post("/api/orders/execute", json=BODY) for _ in range(count)]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    return [a.json()["orderId"] for a in answers]


async def status_of(base: str, order_id: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        found: dict[str, Any] = (await client.get(f"/api/orders/{order_id}")).json()
    return str(found["status"])


async def streams(base: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    ws = base.replace("http://", "ws://")
    found = await asyncio.gather(*(stream(f"{ws}/api/orders/execute?orderId={i}") for i in ids))
    return dict(zip(ids, found, strict=True))


async def wallet_of(c: Cluster) -> Any:
    from order_engine.chain.wallet import load_wallet

    return load_wallet(Path(c.env["WALLET_KEYPAIR"])).pubkey()


async def test_sigkill_mid_swap_the_successor_settles_the_first_signature(
    tmp_path: Path,
) -> None:
    async with chain_cluster(tmp_path, LATENCY_SCALE="1") as (c, url):
        c.env.update(JOB_LOCK_S="2")
        base = await start_api(c)
        victim = await start_worker(c, "victim", "--concurrency", "2")
        ids = await submit(base, 2)
        for _ in range(400):
            if all([await status_of(base, i) == "submitted" for i in ids]):
                break
            await asyncio.sleep(0.005)
        victim.process.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(victim.process.wait, 5) == -signal.SIGKILL
        assert [await status_of(base, i) for i in ids] == ["submitted", "submitted"]
        await start_worker(c, "successor")
        events = await streams(base, ids)
        swaps = await landed_swaps(url, await wallet_of(c))
    for order_id, found in events.items():
        assert [e["status"] for e in found] == HAPPY, found
        submitted = next(e for e in found if e["status"] == "submitted")
        assert found[-1]["txHash"] == submitted["txHash"]  # the bytes sent before the kill
        assert swaps[order_id] == [submitted["txHash"]]  # exactly one swap on the chain


async def test_an_rpc_endpoint_that_errs_for_a_while(tmp_path: Path) -> None:
    faults = {"CHAIN_READ_ERROR_RATE": "0.2", "CHAIN_SEND_ERROR_RATE": "0.3"}
    async with chain_cluster(tmp_path, **faults) as (c, url):
        base = await start_api(c)
        await start_worker(c, "worker-1")
        ids = await submit(base, 20)
        events = await streams(base, ids)
        swaps = await landed_swaps(url, await wallet_of(c))
    for order_id, found in events.items():
        assert [e["status"] for e in found] == HAPPY, found[-1].get("attempts")
        assert swaps[order_id] == [found[-1]["txHash"]]


async def test_a_restarted_localnet_loses_nothing(tmp_path: Path) -> None:
    async with chain_cluster(tmp_path) as (c, url):
        base = await start_api(c)
        await start_worker(c, "worker-1")
        before = await streams(base, await submit(base, 5))
        localnet = next(p for p in c.procs if p.name == "localnet")
        localnet.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(localnet.process.wait, 15) == 0, localnet.text()
        during = await submit(base, 3)  # accepted while the chain is down: they wait
        port = url.rsplit(":", 1)[1]
        c.env.update(DATA_DIR=str(tmp_path / "localnet"))
        again = c.start("localnet-2", "localnet", "--port", port)
        await wait_localnet(again, url)
        after = await streams(base, during)
        swaps = await landed_swaps(url, await wallet_of(c))
    for order_id, found in {**before, **after}.items():
        assert [e["status"] for e in found] == HAPPY, found[-1].get("attempts")
        assert swaps[order_id] == [found[-1]["txHash"]]  # the restored chain knows them all
