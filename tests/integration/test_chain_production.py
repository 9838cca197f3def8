"""Production mode on the chain: `order-engine localnet` (the real programs behind Solana
JSON-RPC), `migrate`, two `api` and two `worker` processes on PostgreSQL and Redis; every
order is a real transaction on the one shared chain, executed exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from solders.pubkey import Pubkey
from solders.rpc.config import RpcSignaturesForAddressConfig
from solders.rpc.requests import GetSignaturesForAddress
from solders.rpc.responses import GetSignaturesForAddressResp

from order_engine.chain.memo import ORDER_PREFIX
from order_engine.chain.wallet import load_wallet
from tests.chain_helpers import program_binaries
from tests.integration.redis_server import free_port, private_redis
from tests.integration.test_multiprocess_e2e import (
    HAPPY,
    Cluster,
    Proc,
    cluster,
    engine_env,
    run_orders,
    start_cluster,
    stop_all,
    stored_orders,
    wait_until,
)
from tests.pgdb import fresh_database


async def wait_localnet(proc: Proc, url: str) -> None:
    async def healthy() -> bool:
        body = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                answer: dict[str, Any] = (await client.post(url, json=body)).json()
                return answer.get("result") == "ok"
        except (httpx.TransportError, ValueError):
            return False

    await wait_until(proc, healthy, "healthy")


async def start_localnet(running: Cluster, data: Path) -> tuple[str, Pubkey]:
    port = free_port()
    proc = running.start(
        "localnet", "localnet", "--port", str(port), log_level="info",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    await wait_localnet(proc, url)
    return url, load_wallet(data / "wallet.json").pubkey()


async def landed_swaps(url: str, wallet: Pubkey) -> dict[str, list[str]]:
    """Order id -> the signatures of its swaps that landed, from the chain's own history
    (the wallet's transactions and their memos, `getSignaturesForAddress`)."""
    request = GetSignaturesForAddress(wallet, RpcSignaturesForAddressConfig(limit=1000))
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.post(url, content=request.to_json())).text
    found = GetSignaturesForAddressResp.from_json(text)
    assert isinstance(found, GetSignaturesForAddressResp), text
    swaps: dict[str, list[str]] = {}
    for item in reversed(found.value):  # oldest first
        memo = (item.memo or "").split("] ", 1)[-1]
        if item.err is None and memo.startswith(ORDER_PREFIX):
            swaps.setdefault(memo[len(ORDER_PREFIX) :], []).append(str(item.signature))
    return swaps


async def test_two_apis_and_two_workers_trade_on_one_localnet(tmp_path: Path) -> None:
    data = tmp_path / "localnet"
    async with fresh_database("oe_chain") as database_url:
        with private_redis() as redis:
            env = engine_env(database_url, redis.url)
            env.update(
                DATA_DIR=str(data), PROGRAMS_DIR=str(program_binaries().source),
                MARKET_INTERVAL_S="0", MAX_ATTEMPTS="5", BACKOFF_BASE_S="0.05",
            )  # fmt: skip
            with cluster(tmp_path, env) as c:
                url, wallet = await start_localnet(c, data)
                c.env.update(SOLANA_RPC_URL=url, WALLET_KEYPAIR=str(data / "wallet.json"))
                c.env.update(DATA_DIR=str(tmp_path / "engine"))
                bases, apis, workers = await start_cluster(c)
                streamed: dict[str, list[dict[str, Any]]] = await run_orders(bases)
                exits = await stop_all([*apis, *workers])
                logs = {p.name: p.text() for p in c.procs}
                assert exits == {p.name: 0 for p in [*apis, *workers]}, (exits, logs)
                for order_id, events in streamed.items():
                    assert [e["status"] for e in events] == HAPPY, (order_id, events)
                stored = await stored_orders(database_url)
                assert {s for s, _, _ in stored.values()} == {"confirmed"}
                swaps = await landed_swaps(url, wallet)
                assert swaps == {i: [events[-1]["txHash"]] for i, events in streamed.items()}
