"""A token launch in production mode on the chain: `order-engine localnet`, `migrate`, one
`api` and two `worker` processes on PostgreSQL and Redis. Three sniper orders wait for a
token; the API process opens its pool with real transactions on the shared chain, then
announces the launch; the workers hear of it and all three snipers swap on the new pool."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.chain_helpers import program_binaries
from tests.e2e.harness import assert_lifecycle, statuses
from tests.integration.redis_server import free_port, private_redis
from tests.integration.test_chain_production import landed_swaps, start_localnet
from tests.integration.test_multiprocess_e2e import (
    Cluster,
    Proc,
    cluster,
    engine_env,
    migrate,
    stop_all,
    stream,
    wait_api_ready,
    wait_worker_started,
)
from tests.pgdb import fresh_database

D = Decimal
SYMBOL, VENUE = "RPCSNIPE", "raydium"
SNIPER = {"tokenIn": "SOL", "tokenOut": SYMBOL, "amountIn": "0.5", "type": "sniper",
          "venue": VENUE, "slippageBps": 500}  # fmt: skip
LAUNCH = {"symbol": SYMBOL, "venue": VENUE, "price": "0.0005", "quote": "SOL"}


async def start_api_and_workers(c: Cluster) -> tuple[str, list[Proc]]:
    """Migrate, then one API and two workers; returns once all three are ready."""
    await migrate(c)
    port = free_port()
    api = c.start("api", "api", "--port", str(port), log_level="info")
    workers = [c.start(f"worker-{n}", "worker", log_level="info") for n in (1, 2)]
    base = f"http://127.0.0.1:{port}"
    await asyncio.gather(wait_api_ready(api, base), *(wait_worker_started(w) for w in workers))
    return base, [api, *workers]


async def wait_waiting(client: httpx.AsyncClient, order_id: str) -> None:
    async with asyncio.timeout(10):
        while True:
            found = (await client.get(f"/api/orders/{order_id}")).json()
            if found.get("status") == "waiting":
                return
            await asyncio.sleep(0.05)


async def snipe(base: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], Any]:
    """Three snipers wait, the token launches; the launch, each sniper's events and the
    chain's pools afterwards."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        accepted = [(await client.post("/api/orders/execute", json=SNIPER)) for _ in range(3)]
        assert all(r.status_code == 201 for r in accepted), [r.text for r in accepted]
        orders = {r.json()["orderId"]: r.json()["wsUrl"] for r in accepted}
        for order_id in orders:
            await wait_waiting(client, order_id)
        launched = await client.post("/api/admin/launch", json=LAUNCH)
        assert launched.status_code == 201, launched.text
        streams = await asyncio.gather(*(stream(ws) for ws in orders.values()))
        pools = (await client.get("/api/chain/pools")).json()
    return launched.json(), dict(zip(orders, streams, strict=True)), pools


async def test_a_launch_on_the_api_opens_a_pool_on_the_chain_for_every_worker(
    tmp_path: Path,
) -> None:
    data = tmp_path / "localnet"
    async with fresh_database("oe_launch") as database_url:
        with private_redis() as redis:
            env = engine_env(database_url, redis.url)
            env.update(
                DATA_DIR=str(data), PROGRAMS_DIR=str(program_binaries().source),
                MARKET_INTERVAL_S="0", MAX_ATTEMPTS="5", BACKOFF_BASE_S="0.05",
                LIMIT_CHECK_INTERVAL_S="0.2",
            )  # fmt: skip
            with cluster(tmp_path, env) as c:
                url, wallet = await start_localnet(c, data)
                c.env.update(SOLANA_RPC_URL=url, WALLET_KEYPAIR=str(data / "wallet.json"))
                c.env.update(DATA_DIR=str(tmp_path / "engine"))
                base, procs = await start_api_and_workers(c)
                launch, streamed, pools = await snipe(base)
                exits = await stop_all(procs)
                logs = {p.name: p.text() for p in c.procs}
                swaps = await landed_swaps(url, wallet)

    assert exits == {p.name: 0 for p in procs}, (exits, logs)
    for order_id, events in streamed.items():
        assert statuses(events) == [
            "pending", "waiting", "routing", "building", "submitted", "confirmed",
        ], (events, logs)  # fmt: skip
        assert_lifecycle(events, order_id, "confirmed")
        assert events[-1]["dex"] == VENUE
        assert D(events[-1]["amountOut"]) > 900  # 0.5 SOL at 0.0005 SOL, less fee and impact
        assert swaps[order_id] == [events[-1]["txHash"]]  # one swap each, on the chain
    assert sum("sniper orders fired" in logs[w.name] for w in procs[1:]) == 2
    listed = [p for p in pools["pools"] if p["base"]["symbol"] == SYMBOL]
    assert [(p["venue"], p["pair"], p["base"]["mint"]) for p in listed] == [
        (VENUE, f"{SYMBOL}/WSOL", launch["mint"])
    ]
