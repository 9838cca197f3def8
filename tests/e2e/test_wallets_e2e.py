"""A wallet per account, through real HTTP, on the chain venues of `order-engine serve`:
each account's orders are signed by and paid from its own wallet, an admin funds wallets
(the endpoint and `order-engine accounts fund`), `GET /api/account` shows the balances as
they change, an order its wallet cannot pay fails at once with nothing sent, and the
engine's wallet (the first admin's) pays for nobody else."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey

from order_engine.adapters.clock import SystemClock
from order_engine.api.models import AccountView
from order_engine.bootstrap.factories import make_wallet_vault
from order_engine.domain.accounts import Scope
from order_engine.engine.accounts import AccountAdmin
from order_engine.fund_cli import fund as fund_by_cli
from tests.e2e.harness import RunningEngine, assert_error, running_engine, statuses
from tests.e2e.test_chain_e2e import HAPPY, chain_engine
from tests.e2e.test_localnet_e2e import localnet

D = Decimal


async def account_key(eng: RunningEngine, name: str, scope: Scope = Scope.TRADE) -> str:
    """A new account (with its wallet, as `order-engine accounts create` makes it) and a
    key for it."""
    engine = eng.engine
    admin = AccountAdmin(
        engine.adapters.accounts, SystemClock(), make_wallet_vault(engine.settings)
    )
    await admin.create_account(name)
    _, token = await admin.create_key(name, scope)
    return token.reveal()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def me(eng: RunningEngine, key: str | None = None) -> dict[str, Any]:
    """`GET /api/account` as the key's account (default: the admin's)."""
    response = await eng.client.get("/api/account", headers=bearer(key) if key else {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    AccountView.model_validate(body)
    return body


def held(account: dict[str, Any]) -> dict[str, Decimal]:
    return {b["token"]: D(b["amount"]) for b in account["balances"]}


async def fund(eng: RunningEngine, name: str, token: str, amount: str) -> httpx.Response:
    body = {"token": token, "amount": amount}
    return await eng.client.post(f"/api/admin/accounts/{name}/fund", json=body)


async def trade(eng: RunningEngine, key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await eng.client.post("/api/orders/execute", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    return await eng.stream(response.json()["orderId"])


def database_bytes(data_dir: Path) -> bytes:
    """The embedded database's files (the WAL included)."""
    return b"".join(p.read_bytes() for p in data_dir.glob("orders.db*"))


async def payer(eng: RunningEngine, signature: str) -> str:
    chain = eng.engine.venue_set.chain
    assert chain is not None
    details = await chain.transaction(signature)
    assert details is not None and details.err is None
    return str(details.fee_payer)


async def test_two_accounts_trade_from_their_own_wallets(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        alice, bob = await account_key(eng, "alice"), await account_key(eng, "bob")
        for name, token, amount in (("alice", "SOL", "10"), ("bob", "SOL", "1"),
                                    ("bob", "USDC", "500")):  # fmt: skip
            assert (await fund(eng, name, token, amount)).status_code == 200
        house_before = await me(eng)
        alice_before, bob_before = await me(eng, alice), await me(eng, bob)
        sold = await trade(eng, alice, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"})
        bought = await trade(eng, bob, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "300"})
        alice_after, bob_after = await me(eng, alice), await me(eng, bob)
        house_after = await me(eng)
        payers = [await payer(eng, events[-1]["txHash"]) for events in (sold, bought)]
        executions = await eng.engine.executions(sold[-1]["orderId"])
        views = [
            (await eng.client.get(f"/api/orders/{events[0]['orderId']}", headers=bearer(k))).json()
            for events, k in ((sold, alice), (bought, bob))
        ]
    assert statuses(sold) == HAPPY and statuses(bought) == HAPPY
    assert payers == [alice_before["wallet"], bob_before["wallet"]]
    assert [v["wallet"] for v in views] == payers  # who pays, as recorded with the order
    assert house_before["wallet"] == eng.engine.venue_set.wallet  # the first admin's
    assert held(house_after) == held(house_before)  # the engine's wallet paid nothing
    a0, a1 = held(alice_before), held(alice_after)
    assert (a0["SOL"], a0["USDC"]) == (D(10), D(0))
    assert D("7.99") < a1["SOL"] < 8 and a1["USDC"] == D(sold[-1]["amountOut"])
    b0, b1 = held(bob_before), held(bob_after)
    assert (b0["SOL"], b0["USDC"]) == (D(1), D(500))
    assert b1["USDC"] == 200 and b1["SOL"] > 1 + D(bought[-1]["amountOut"]) - D("0.001")
    assert [e.tx_hash for e in executions] == [sold[-1]["txHash"]]


async def test_an_order_its_wallet_cannot_pay_fails_at_once_with_nothing_sent(
    tmp_path: Path,
) -> None:
    async with chain_engine(tmp_path) as eng:
        carol = await account_key(eng, "carol")
        assert (await fund(eng, "carol", "SOL", "1")).status_code == 200
        events = await trade(eng, carol, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "5"})
        order = (await eng.client.get(f"/api/orders/{events[0]['orderId']}")).json()
        after = await me(eng, carol)
        executions = await eng.engine.executions(order["orderId"])
    assert statuses(events) == ["pending", "routing", "building", "failed"]
    error = events[-1]["error"]
    assert error["code"] == "insufficient_funds" and events[-1]["attempt"] == 1
    assert f"the wallet {after['wallet']} holds 1 SOL" in error["message"]
    assert "the order needs 5.01 SOL (5 SOL to swap" in error["message"]
    assert order["legs"] == [] and order["txHash"] is None and executions == []
    assert held(after)["SOL"] == 1  # not a lamport spent


async def test_fund_then_trade_and_the_account_shows_its_balances(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        dave = await account_key(eng, "dave", Scope.READ)
        trader = await account_key(eng, "erin")
        fresh = await me(eng, dave)
        empty = await trade(eng, trader, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
        cli = bearer(eng.api_key or "")
        for token, amount in (("SOL", "3"), ("USDC", "100")):
            status = await asyncio.to_thread(
                fund_by_cli, eng.base_url, cli, "erin", {"token": token, "amount": amount}
            )
            assert status == 0
        funded = await me(eng, trader)
        traded = await trade(eng, trader, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
        after = await me(eng, trader)
    assert fresh["name"] == "dave" and fresh["admin"] is False
    assert Pubkey.from_string(fresh["wallet"]) and set(held(fresh).values()) == {0}
    assert {b["token"] for b in fresh["balances"]} >= {"SOL", "USDC", "BONK"}
    assert statuses(empty)[-1] == "failed" and empty[-1]["error"]["code"] == "insufficient_funds"
    assert (held(funded)["SOL"], held(funded)["USDC"]) == (D(3), D(100))
    assert statuses(traded) == HAPPY
    assert D("1.98") < held(after)["SOL"] < 2
    assert held(after)["USDC"] == 100 + D(traded[-1]["amountOut"])


async def test_funding_answers_who_may_and_what_cannot_be(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        frank = await account_key(eng, "frank")
        no_key = await eng.client.post(
            "/api/admin/accounts/frank/fund", json={"token": "SOL", "amount": "1"},
            headers={"Authorization": ""},
        )  # fmt: skip
        not_admin = await eng.client.post(
            "/api/admin/accounts/frank/fund", json={"token": "SOL", "amount": "1"},
            headers=bearer(frank),
        )  # fmt: skip
        unknown = await fund(eng, "nobody", "SOL", "1")
        bad_token = await fund(eng, "frank", "DOGE", "1")
        wsol = await fund(eng, "frank", "WSOL", "1")
        bad_amount = await fund(eng, "frank", "USDC", "0.0000001")
        form = await eng.client.post(
            "/api/admin/accounts/frank/fund", data={"token": "SOL", "amount": "1"}
        )
        anonymous = await eng.client.get("/api/account", headers={"Authorization": ""})
    assert_error(no_key, 401)
    assert_error(not_admin, 403)
    assert_error(unknown, 404, code="account_not_found")
    assert_error(bad_token, 422, field="token")
    assert_error(wsol, 422, field="token")
    assert_error(bad_amount, 422, field="amount")
    assert form.status_code == 415
    assert_error(anonymous, 401)


async def test_the_simulated_venues_cannot_fund(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        refused = await fund(eng, "admin", "SOL", "10")
        seen = await me(eng)
        status = await asyncio.to_thread(
            fund_by_cli, eng.base_url, bearer(eng.api_key or ""), "admin",
            {"token": "SOL", "amount": "10"},
        )  # fmt: skip
    assert_error(refused, 409, code="funding_unavailable")
    assert seen["name"] == "admin" and seen["wallet"] and seen["balances"] == []
    assert status == 1


async def test_serve_seals_wallets_with_a_key_file_it_made_and_never_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="order_engine")
    async with chain_engine(tmp_path) as eng:
        key = await account_key(eng, "gina")
        assert (await fund(eng, "gina", "SOL", "2")).status_code == 200
        wallet = (await me(eng, key))["wallet"]
    key_file = tmp_path / "wallet-master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = key_file.read_text().strip()
    assert secret not in caplog.text and str(key_file) in caplog.text
    async with chain_engine(tmp_path) as again:  # the same key: the wallet opens
        events = await trade(again, key, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
        assert (await me(again, key))["wallet"] == wallet
        gina = await again.engine.adapters.accounts.find_account_by_name("gina")
        assert gina is not None
        keypairs = again.engine.venue_set.wallets
        assert keypairs is not None
        keypair = await keypairs.signer(gina.id)
    assert statuses(events) == HAPPY and key_file.read_text().strip() == secret
    assert str(keypair.pubkey()) == wallet
    database = await asyncio.to_thread(database_bytes, tmp_path)
    assert gina.wallet is not None and gina.wallet.ciphertext in database
    assert keypair.secret() not in database and bytes(keypair) not in database


async def test_on_localnet_an_account_is_funded_and_trades_over_json_rpc(tmp_path: Path) -> None:
    """`serve` over `order-engine localnet` (the real console script): SOL airdropped by its
    faucet, USDC minted by the local chain's genesis authority (the same RNG_SEED), the
    account's swap sent through JSON-RPC and found again by its wallet's history."""
    data = tmp_path / "localnet"
    with localnet(tmp_path, data_dir=data, market_interval_s=0, rng_seed=7) as node:
        overrides = {"solana_rpc_url": node.url, "wallet_keypair": data / "wallet.json",
                     "data_dir": tmp_path / "engine", "rng_seed": 7}  # fmt: skip
        async with chain_engine(tmp_path, **overrides) as eng:
            key = await account_key(eng, "hana")
            for token, amount in (("SOL", "5"), ("USDC", "40")):
                assert (await fund(eng, "hana", token, amount)).status_code == 200
            funded = await me(eng, key)
            events = await trade(eng, key, {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "30"})
            after = await me(eng, key)
            executions = await eng.engine.executions(events[0]["orderId"])
    assert (held(funded)["SOL"], held(funded)["USDC"]) == (D(5), D(40))
    assert statuses(events) == HAPPY
    assert held(after)["USDC"] == 10 and held(after)["SOL"] > 5
    assert [e.tx_hash for e in executions] == [events[-1]["txHash"]]
