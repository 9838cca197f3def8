"""Trading a cluster's pools from a pools file, as a devnet or mainnet user would, against
`order-engine localnet` (the real console script): `pools discover --toml` writes the
entries, the engine started with `SOLANA_RPC_URL` and `POOLS_FILE` trades exactly those
pools (real transactions), refuses pairs the file does not name and launches; a file
naming an account that is no pool stops `order-engine serve` with one line."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from order_engine.chain import listing
from order_engine.domain.tokens import TOKENS
from tests.e2e.harness import running_engine
from tests.e2e.test_cli_e2e import ORDER_ENGINE, env_with, free_port
from tests.e2e.test_localnet_e2e import localnet

SOL, USDC, BONK = TOKENS["SOL"], TOKENS["USDC"], TOKENS["BONK"]


def _discover_toml(url: str, pair: str, venue: str) -> str:
    done = subprocess.run(
        [str(ORDER_ENGINE), "pools", "discover", "--rpc", url, "--pair", pair, "--venue", venue,
         "--toml"],
        capture_output=True, text=True, timeout=30, check=False, env=env_with(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _until_final(client: Any, order_id: str) -> dict[str, Any]:
    for _ in range(400):
        order: dict[str, Any] = (await client.get(f"/api/orders/{order_id}")).json()
        if order["status"] in {"confirmed", "failed"}:
            return order
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} did not end: {order}")


async def test_the_engine_trades_the_pools_its_pools_file_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with localnet(tmp_path, data_dir=data, market_interval_s=0) as node:
        entries = _discover_toml(node.url, "SOL/USDC", "raydium")
        entries += _discover_toml(node.url, "BONK/USDC", "meteora")
        pools_file = tmp_path / "pools.toml"
        pools_file.write_text(entries)
        overrides = {
            "venues": "chain",
            "solana_rpc_url": node.url,
            "pools_file": pools_file,
            "wallet_keypair": data / "wallet.json",
            "data_dir": tmp_path / "engine",
        }
        async with running_engine(tmp_path, **overrides) as engine:  # fmt: skip
            c = engine.client
            sol = await engine.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2",
                                         "slippageBps": 100})  # fmt: skip
            bonk = await engine.order_id({"tokenIn": "USDC", "tokenOut": "BONK",
                                          "amountIn": "50", "slippageBps": 100})  # fmt: skip
            orders = [await _until_final(c, sol), await _until_final(c, bonk)]
            unlisted = await _until_final(c, await engine.order_id({
                "tokenIn": "JUP", "tokenOut": "USDC", "amountIn": "3"}))  # fmt: skip
            pools = (await c.get("/api/chain/pools")).json()["pools"]
            launch = await c.post("/api/admin/launch", json={
                "symbol": "NEWT", "venue": "raydium", "price": "0.5"})  # fmt: skip
            fund = await c.post("/api/admin/accounts/admin/fund", json={
                "token": "SOL", "amount": "1"})  # fmt: skip

    assert [o["status"] for o in orders] == ["confirmed", "confirmed"], orders
    assert [o["dex"] for o in orders] == ["raydium", "meteora"], orders
    assert (unlisted["status"], unlisted["attempt"]) == ("failed", 1), unlisted
    assert unlisted["error"]["code"] == "no_route", unlisted  # at once, not retried
    assert [(p["venue"], p["pair"], p["address"]) for p in pools] == [
        ("raydium", "SOL/USDC", str(listing.raydium_keys(SOL, USDC).pool)),
        ("meteora", "BONK/USDC", str(listing.dlmm_keys(BONK, USDC).lb_pair)),
    ]
    assert launch.status_code == 409, launch.text
    assert launch.json()["error"]["code"] == "launches_unavailable"
    assert "POOLS_FILE" in launch.json()["error"]["message"]
    assert fund.status_code == 409 and fund.json()["error"]["code"] == "funding_unavailable"


def test_a_pools_file_naming_no_pool_stops_serve_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with localnet(tmp_path, data_dir=data, market_interval_s=0) as node:
        vault = listing.raydium_keys(SOL, USDC).vault0
        pools_file = tmp_path / "pools.toml"
        pools_file.write_text(f'[[pools]]\nvenue = "raydium"\npair = "SOL/USDC"\n'
                              f'address = "{vault}"\n')  # fmt: skip
        env = env_with(
            solana_rpc_url=node.url, pools_file=pools_file, venues="chain",
            wallet_keypair=data / "wallet.json", data_dir=tmp_path / "engine",
        )  # fmt: skip
        done = subprocess.run(
            [str(ORDER_ENGINE), "serve", "--port", str(free_port())],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(f"order-engine: POOLS_FILE {pools_file} pools[0]"), lines
    assert "not a Raydium CPMM account" in lines[-1]
    assert "Traceback" not in done.stderr
