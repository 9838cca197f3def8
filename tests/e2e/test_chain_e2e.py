"""The embedded engine on the chain venues: market, split, limit and sniper orders execute
as real transactions on the real Raydium CPMM and Meteora DLMM programs (LiteSVM in the
process), over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

from solders.transaction import VersionedTransaction

from order_engine.bootstrap.venues import VenueSet
from tests.chain_helpers import program_binaries
from tests.e2e.harness import RunningEngine, assert_lifecycle, running_engine, statuses

D = Decimal
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]


def chain_engine(tmp_path: Path, **overrides: Any) -> Any:
    binaries = program_binaries()
    return running_engine(tmp_path, venues="chain", programs_dir=binaries.source, **overrides)


def venue_set(eng: RunningEngine) -> VenueSet:
    return eng.engine.venue_set


async def test_a_market_order_is_a_real_swap_on_the_program(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        assert venue_set(eng).kind == "chain"
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"})
        events = await eng.stream(order_id)
        executions = await eng.engine.executions(order_id)
        chain = venue_set(eng).chain
        assert chain is not None
        details = await chain.transaction(events[-1]["txHash"])
    assert statuses(events) == HAPPY
    assert_lifecycle(events, order_id, "confirmed")
    confirmed = events[-1]
    assert len(executions) == 1 and executions[0].tx_hash == confirmed["txHash"]
    assert executions[0].amount_out == D(confirmed["amountOut"])
    assert details is not None and details.err is None and details.memo == f"order:{order_id}"
    (leg,) = confirmed["legs"]
    assert leg["slot"] == details.slot and leg["computeUnits"] == details.compute_units > 0
    assert leg["fee"] == details.fee >= 5_000
    assert "wire" not in leg and leg["lastValidBlockHeight"] > details.slot
    submitted = events[3]
    assert submitted["txHash"] == confirmed["txHash"]
    assert any("wrap" in step for step in submitted["steps"])


async def test_usdc_to_native_sol_unwraps_in_the_same_transaction(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        order_id = await eng.order_id({"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "300"})
        events = await eng.stream(order_id)
        chain = venue_set(eng).chain
        assert chain is not None
        details = await chain.transaction(events[-1]["txHash"])
        wallet = venue_set(eng).wallet
    assert statuses(events) == HAPPY
    assert details is not None and wallet is not None
    received = D(events[-1]["amountOut"])
    assert D(1) < received < D(3)
    lamports = [c for c in details.lamport_balances if str(c[0]) == wallet]
    (_, pre, post) = lamports[0]
    assert D(post - pre + details.fee).scaleb(-9) == received  # unwrapped to the wallet


async def test_an_order_the_wallet_cannot_pay_fails_at_once(tmp_path: Path) -> None:
    async with chain_engine(tmp_path, wallet_funding_sol=1) as eng:
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "5"})
        events = await eng.stream(order_id)
        executions = await eng.engine.executions(order_id)
    assert statuses(events) == ["pending", "routing", "building", "failed"]
    error = events[-1]["error"]
    assert error["code"] == "insufficient_funds" and "5 SOL" in error["message"]
    assert events[-1]["attempt"] == 1 and executions == []


async def test_a_large_order_splits_into_one_real_transaction_per_venue(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        order_id = await eng.order_id(
            {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3000", "slippageBps": 200}
        )
        events = await eng.stream(order_id)
        executions = await eng.engine.executions(order_id)
    assert statuses(events) == HAPPY
    confirmed = events[-1]
    assert confirmed["dex"] == "raydium+meteora"
    assert sorted(e.dex for e in executions) == ["meteora", "raydium"]
    assert sum(e.amount_out for e in executions) == D(confirmed["amountOut"])
    assert sum(D(leg["amountIn"]) for leg in confirmed["legs"]) == D(3000)


async def test_the_signed_bytes_are_kept_before_sending(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
        await eng.stream(order_id)
        order = await eng.engine.store.get(order_id)
    (leg,) = order.legs
    assert leg.signed is not None
    tx = VersionedTransaction.from_bytes(base64.b64decode(leg.signed.wire))
    assert str(tx.signatures[0]) == leg.tx_hash


async def test_limit_and_sniper_orders_fire_on_the_chain(tmp_path: Path) -> None:
    async with chain_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        limit = await eng.order_id(
            {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "type": "limit",
             "limitPrice": "100"}
        )  # fmt: skip
        sniper = await eng.order_id(
            {"tokenIn": "SOL", "tokenOut": "CHN1", "amountIn": "0.5", "type": "sniper",
             "venue": "meteora", "slippageBps": 500}
        )  # fmt: skip
        assert statuses(await eng.stream_until(sniper, "waiting"))[-1] == "waiting"
        body = {"symbol": "CHN1", "venue": "meteora", "price": "0.0005", "decimals": 6}
        launched = await eng.client.post("/api/admin/launch", json=body)
        async with asyncio.timeout(20):
            limit_events, sniper_events = await asyncio.gather(
                eng.stream(limit), eng.stream(sniper)
            )
        executions = await eng.engine.executions(sniper)
    assert launched.status_code == 201, launched.text
    assert statuses(limit_events)[-1] == "confirmed"
    assert D(limit_events[-1]["amountOut"]) >= D(200)
    assert statuses(sniper_events) == [
        "pending", "waiting", "routing", "building", "submitted", "confirmed",
    ]  # fmt: skip
    assert sniper_events[-1]["dex"] == "meteora" and len(executions) == 1
    tokens = D(sniper_events[-1]["amountOut"])
    assert D(900) < tokens < D(1000)  # 0.5 SOL at 0.0005 SOL each, less fee and impact


async def test_the_background_market_moves_prices_while_orders_execute(tmp_path: Path) -> None:
    async with chain_engine(tmp_path, market_interval_s=0.05) as eng:
        market = venue_set(eng).market
        assert market is not None and market.running
        first = (await eng.client.get("/api/chain/pools")).json()["pools"]
        for _ in range(200):  # the market steps on its own timer: poll its counter
            if market.steps >= 5:
                break
            await asyncio.sleep(0.05)
        assert market.steps >= 5
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3"})
        events = await eng.stream(order_id)
        later = (await eng.client.get("/api/chain/pools")).json()["pools"]
    assert statuses(events) == HAPPY
    price = {(p["venue"], p["address"]): D(p["price"]) for p in first}
    moved = [p for p in later if D(p["price"]) != price[(p["venue"], p["address"])]]
    assert moved, "the market's trades move pool prices"
    sol_usdc = [
        D(p["price"])
        for p in later
        if (p["base"]["symbol"], p["quote"]["symbol"]) == ("WSOL", "USDC")
    ]
    assert len(sol_usdc) == 2 and abs(sol_usdc[0] / sol_usdc[1] - 1) < D("0.02")


async def test_orders_ride_out_a_chain_that_drops_and_errs(tmp_path: Path) -> None:
    faults = {
        "chain_drop_rate": 0.3,
        "chain_send_error_rate": 0.2,
        "chain_read_error_rate": 0.01,
        "max_attempts": 6,
    }
    async with chain_engine(tmp_path, **faults) as eng:
        ids = [
            await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
            for _ in range(8)
        ]
        streams = await asyncio.gather(*(eng.stream(i) for i in ids))
        executions = [await eng.engine.executions(i) for i in ids]
    for order_id, events, landed in zip(ids, streams, executions, strict=True):
        assert statuses(events)[-1] == "confirmed", events[-1]
        assert_lifecycle(events, order_id, "confirmed")
        assert [e.tx_hash for e in landed] == [events[-1]["txHash"]]  # exactly one swap


async def test_a_scheduled_launch_opens_a_real_pool_and_fires_the_sniper(tmp_path: Path) -> None:
    schedule = "CHS2:raydium:0.25:USDC@0.3"
    async with chain_engine(tmp_path, sim_launches=schedule, limit_check_interval_s=0.05) as eng:
        order_id = await eng.order_id(
            {"tokenIn": "USDC", "tokenOut": "CHS2", "amountIn": "100", "type": "sniper",
             "venue": "raydium", "slippageBps": 300}
        )  # fmt: skip
        async with asyncio.timeout(20):
            events = await eng.stream(order_id)
        pools = (await eng.client.get("/api/chain/pools")).json()["pools"]
        launched = eng.engine.tokens.find("CHS2", field="tokenOut")
    assert statuses(events)[-1] == "confirmed", events[-1]
    assert D(390) < D(events[-1]["amountOut"]) < D(400)  # 100 USDC at 0.25, less fee and impact
    mine = [p for p in pools if p["base"]["symbol"] == "CHS2"]
    assert [p["venue"] for p in mine] == ["raydium"] and mine[0]["base"]["mint"] == launched.mint
