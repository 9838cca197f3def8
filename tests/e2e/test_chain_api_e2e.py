"""The chain endpoints over HTTP: a swap read back by its signature
(`GET /api/chain/tx/{signature}`), every pool with its reserves and price
(`GET /api/chain/pools`), and both refusing cleanly with the simulated venues."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.signature import Signature

from order_engine.domain.tokens import TOKENS
from tests.chain_helpers import program_binaries
from tests.e2e.harness import RunningEngine, assert_error, running_engine, statuses

D = Decimal
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]
USDC = TOKENS["USDC"].mint
PAIRS = 21  # the 7 pool tokens (SOL counted once, as wSOL), two at a time


def chain_engine(tmp_path: Path, **overrides: Any) -> Any:
    binaries = program_binaries()
    return running_engine(tmp_path, venues="chain", programs_dir=binaries.source, **overrides)


async def pools(eng: RunningEngine) -> dict[str, Any]:
    response = await eng.client.get("/api/chain/pools")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pool(body: dict[str, Any], venue: str, pair: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p for p in body["pools"] if p["venue"] == venue and p["pair"] == pair
    ]
    assert len(found) == 1, found
    return found[0]


async def test_a_swap_reads_back_by_its_signature(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"})
        events = await eng.stream(order_id)
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        response = await eng.client.get(f"/api/chain/tx/{events[-1]['txHash']}")
        wallet = eng.engine.venue_set.wallet
    assert statuses(events) == HAPPY
    assert response.status_code == 200, response.text
    tx = response.json()
    (leg,) = order["legs"]
    assert tx["signature"] == leg["txHash"] == order["txHash"]
    assert (tx["slot"], tx["fee"], tx["computeUnits"]) == (
        leg["slot"], leg["fee"], leg["computeUnits"],
    )  # fmt: skip
    assert tx["status"] == "landed" and tx["error"] is None and tx["customError"] is None
    assert tx["commitment"] == "finalized"  # latency 0: every slot is at once final
    assert tx["memo"] == f"order:{order_id}"
    assert any("invoke" in line for line in tx["logs"])
    mine = [c for c in tx["tokenBalanceChanges"] if c["owner"] == wallet and c["mint"] == USDC]
    received = sum(int(c["post"]) - int(c["pre"]) for c in mine)
    assert D(received).scaleb(-6) == D(order["amountOut"])
    (lamports,) = [c for c in tx["lamportChanges"] if c["account"] == wallet]
    spent = int(lamports["pre"]) - int(lamports["post"])
    assert spent >= 2 * 10**9 + tx["fee"]  # 2 SOL wrapped and swapped, plus the fee
    assert all(isinstance(c["pre"], str) for c in tx["tokenBalanceChanges"])


@pytest.mark.parametrize(
    "signature",
    [
        "abc",
        "0" * 88,  # not base58
        str(Signature(bytes(range(64))))[
            :-3
        ],  # base58, but not of 64 bytes (fixed: same ids on every xdist worker)
        "1" * 200,
        "5" * 87 + "%20",
    ],
)
async def test_a_malformed_signature_is_400_naming_it(tmp_path: Path, signature: str) -> None:
    async with chain_engine(tmp_path) as eng:
        response = await eng.client.get(f"/api/chain/tx/{signature}")
    assert_error(response, 400, code="invalid_signature", field="signature")


async def test_an_unknown_signature_is_404(tmp_path: Path) -> None:
    unknown = str(Signature(os.urandom(64)))
    async with chain_engine(tmp_path) as eng:
        response = await eng.client.get(f"/api/chain/tx/{unknown}")
    error = assert_error(response, 404, code="transaction_not_found")
    assert unknown in error["message"]


async def test_every_pool_is_listed_with_reserves_and_price(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        body = await pools(eng)
    assert isinstance(body["slot"], int) and body["slot"] > 0
    listed = body["pools"]
    assert len(listed) == 2 * PAIRS
    assert {p["venue"] for p in listed} == {"raydium", "meteora"}
    for venue in ("raydium", "meteora"):
        assert len({p["pair"] for p in listed if p["venue"] == venue}) == PAIRS
    raydium = pool(body, "raydium", "WSOL/USDC")
    assert raydium["base"] == {"symbol": "WSOL", "mint": TOKENS["WSOL"].mint}
    assert raydium["quote"] == {"symbol": "USDC", "mint": USDC}
    assert raydium["programId"] == "CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C"
    assert abs(D(raydium["price"]) - 150) < D("1.5")
    reserves = {k: D(v) for k, v in raydium["reserves"].items()}
    assert abs(reserves["quote"] / reserves["base"] - D(raydium["price"])) < D("1e-9")
    assert D(1_900_000) < reserves["quote"] <= D(2_000_000)  # 2M USD a side, less fees
    assert "activeBinId" not in raydium
    meteora = pool(body, "meteora", "WSOL/USDC")
    assert meteora["programId"] == "LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo"
    assert meteora["binStep"] == 10 and isinstance(meteora["activeBinId"], int)
    assert abs(D(meteora["price"]) - 150) < D("1.5")
    for item in listed:  # money is strings, never floats
        assert all(isinstance(v, str) for v in item["reserves"].values())
        assert isinstance(item["price"], str) and D(item["price"]) > 0


async def test_pool_reserves_move_after_a_swap(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        before = await pools(eng)
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "50"})
        events = await eng.stream(order_id)
        after = await pools(eng)
    assert statuses(events) == HAPPY
    assert after["slot"] >= before["slot"]  # slots pass every 400 ms
    venues = set(events[-1]["dex"].split("+"))
    sold = D(events[-1]["legs"][0]["amountIn"]) if len(venues) == 1 else None
    for venue in venues:
        old, new = pool(before, venue, "WSOL/USDC"), pool(after, venue, "WSOL/USDC")
        assert D(new["reserves"]["base"]) > D(old["reserves"]["base"])  # SOL went in
        assert D(new["reserves"]["quote"]) < D(old["reserves"]["quote"])  # USDC came out
        assert D(new["price"]) <= D(old["price"])
        if sold is not None and venue == "raydium":  # all of it, less the protocol's cut
            gained = D(new["reserves"]["base"]) - D(old["reserves"]["base"])
            assert sold * D("0.999") < gained < sold
    untouched = [p for p in before["pools"] if "WSOL" not in p["pair"]]
    assert all(p in after["pools"] for p in untouched)


async def test_a_launched_token_has_one_pool(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        body = {"symbol": "PLS1", "venue": "raydium", "price": "0.001", "decimals": 6}
        launched = await eng.client.post("/api/admin/launch", json=body)
        listed = await pools(eng)
    assert launched.status_code == 201, launched.text
    mine = [p for p in listed["pools"] if "PLS1" in p["pair"]]
    assert len(listed["pools"]) == 2 * PAIRS + 1
    assert [(p["venue"], p["pair"]) for p in mine] == [("raydium", "PLS1/WSOL")]
    assert abs(D(mine[0]["price"]) - D("0.001")) < D("0.00001")


async def test_the_chain_endpoints_are_typed_in_openapi(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        spec = (await eng.client.get("/openapi.json")).json()
    tx = spec["paths"]["/api/chain/tx/{signature}"]["get"]["responses"]
    listed = spec["paths"]["/api/chain/pools"]["get"]["responses"]
    ok = "application/json"
    assert tx["200"]["content"][ok]["schema"]["$ref"].endswith("/ChainTransaction")
    assert listed["200"]["content"][ok]["schema"]["$ref"].endswith("/ChainPools")
    for status in ("400", "404", "503"):
        assert tx[status]["content"][ok]["schema"]["$ref"].endswith("/ErrorBody")
    schemas = spec["components"]["schemas"]
    assert schemas["ChainPool"]["properties"]["price"]["anyOf"][0]["type"] == "string"
    assert "commitment" in schemas["ChainTransaction"]["required"]


async def test_with_the_simulated_venues_there_is_no_chain(tmp_path: Path) -> None:
    async with running_engine(tmp_path, venues="sim") as eng:
        assert eng.engine.venue_set.kind == "sim"
        order_id = await eng.order_id()
        events = await eng.stream(order_id)
        tx = await eng.client.get(f"/api/chain/tx/{events[-1]['txHash']}")
        listed = await eng.client.get("/api/chain/pools")
        bad = await eng.client.get("/api/chain/tx/nope")
    for response in (tx, listed):
        error = assert_error(response, 404, code="no_chain")
        assert "simulated venues" in error["message"]
    assert_error(bad, 400, field="signature")


async def test_a_chain_that_does_not_answer_is_503(tmp_path: Path) -> None:
    async with chain_engine(tmp_path, chain_read_error_rate=1.0) as eng:
        listed = await eng.client.get("/api/chain/pools")
        tx = await eng.client.get(f"/api/chain/tx/{'1' * 64}")
    for response in (listed, tx):
        error = assert_error(response, 503, code="chain_unavailable")
        assert "did not answer" in error["message"]
