"""Limits per account through real HTTP (`order-engine serve` with API keys): an order over
its account's largest order is `422 order_too_large` naming `amountIn`; over its open orders
`429 too_many_open_orders`, over its orders per minute `429 account_rate_limited`, each
with `Retry-After`; one account at its limits never holds another back; a replay at the
limits still answers; an account's overrides apply within the key cache's time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from order_engine.adapters.clock import SystemClock
from order_engine.engine.accounts import AccountAdmin
from tests.e2e.harness import RunningEngine, assert_error, running_engine

MARKET = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}
# a sell of SOL at a price no pool reaches: the order waits (open) until it expires
WAITING = {**MARKET, "type": "limit", "limitPrice": "1000000", "timeInForceSeconds": 3600}
KEY_CACHE_S = 2.0  # how long a process may keep a key's account (and its limits)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def eng(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningEngine]:
    """`serve` on the simulated venues (SOL at about 150 USD) with the settings' defaults
    but a largest order of 1,000 USD."""
    path = tmp_path_factory.mktemp("account-limits")
    async with running_engine(path, account_max_order_usd=Decimal(1000)) as running:
        yield running


class Trader:
    """An account of its own (made through the engine's account store) and its key."""

    def __init__(self, eng: RunningEngine, key: str) -> None:
        self.eng, self.headers = eng, {"Authorization": f"Bearer {key}"}

    @classmethod
    async def create(cls, eng: RunningEngine, name: str, **limits: Any) -> Trader:
        admin = AccountAdmin(eng.engine.adapters.accounts, SystemClock())
        await admin.create_account(name)
        if limits:
            await admin.set_limits(name, limits)
        _, token = await admin.create_key(name)
        return cls(eng, token.reveal())

    async def submit(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.eng.client.post(
            "/api/orders/execute", json=body, headers={**self.headers, **headers}
        )

    async def order_id(self, body: dict[str, Any], **headers: str) -> str:
        response = await self.submit(body, **headers)
        assert response.status_code == 201, response.text
        order_id: str = response.json()["orderId"]
        return order_id

    async def cancel(self, order_id: str) -> None:
        url = f"/api/orders/{order_id}/cancel"
        response = await self.eng.client.post(url, json={}, headers=self.headers)
        assert response.status_code == 200, response.text


async def test_an_order_over_the_largest_size_is_422_naming_amount_in(eng: RunningEngine) -> None:
    alice = await Trader.create(eng, "size-alice")
    refused = await alice.submit({**MARKET, "amountIn": "10"})  # about 1,500 USD
    error = assert_error(refused, 422, code="order_too_large", field="amountIn")
    assert "over this account's largest order (maxOrderUsd) of 1000 USD" in error["message"]
    assert "Retry-After" not in refused.headers
    await alice.order_id({**MARKET, "amountIn": "5"})  # about 750 USD
    await alice.order_id({"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "1000"})
    big = await Trader.create(eng, "size-whale", max_order_size=Decimal(5000))
    await big.order_id({**MARKET, "amountIn": "10"})  # the account's own limit


async def test_open_orders_over_the_limit_are_429_with_retry_after_per_account(
    eng: RunningEngine,
) -> None:
    alice = await Trader.create(eng, "open-alice", max_open_orders=2)
    bob = await Trader.create(eng, "open-bob", max_open_orders=2)
    first = await alice.order_id(WAITING, **{"Idempotency-Key": "first"})
    await alice.order_id(WAITING)
    refused = await alice.submit(WAITING)
    error = assert_error(refused, 429, code="too_many_open_orders")
    assert refused.headers["Retry-After"] == "5"
    assert "2 open orders" in error["message"] and "maxOpenOrders 2" in error["message"]
    for _ in range(2):  # alice at her limit holds nobody else back
        await bob.order_id(WAITING)
    replay = await alice.submit(WAITING, **{"Idempotency-Key": "first"})
    assert (replay.status_code, replay.json()["orderId"]) == (200, first)  # never counted
    await alice.cancel(first)  # a final order frees its place
    await alice.order_id(WAITING)
    assert_error(await alice.submit(WAITING), 429, code="too_many_open_orders")


async def test_orders_per_minute_over_the_limit_are_429_until_the_oldest_leaves(
    eng: RunningEngine,
) -> None:
    alice = await Trader.create(eng, "rate-alice", orders_per_minute=3)
    bob = await Trader.create(eng, "rate-bob", orders_per_minute=3)
    for _ in range(3):
        await alice.order_id(MARKET)
    refused = await alice.submit(MARKET)
    error = assert_error(refused, 429, code="account_rate_limited")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert "3 orders per minute (ordersPerMinute)" in error["message"]
    for _ in range(3):
        await bob.order_id(MARKET)
    assert_error(await bob.submit(MARKET), 429, code="account_rate_limited")
    await eng.order_id(MARKET)  # the admin account: the default 6,000 per minute


async def test_a_changed_limit_applies_within_the_key_cache_time(eng: RunningEngine) -> None:
    alice = await Trader.create(eng, "change-alice", orders_per_minute=1)
    await alice.order_id(MARKET)
    assert_error(await alice.submit(MARKET), 429, code="account_rate_limited")
    admin = AccountAdmin(eng.engine.adapters.accounts, SystemClock())
    await admin.set_limits("change-alice", {"orders_per_minute": 2})
    await asyncio.sleep(KEY_CACHE_S + 0.1)
    await alice.order_id(MARKET)


async def test_the_chain_venues_value_orders_at_the_pools_price(tmp_path: Path) -> None:
    """The real pools (SOL at 150 USD at genesis) and the default 1,000,000 USD."""
    async with running_engine(tmp_path, venues="chain") as chain:
        refused = await chain.submit({**MARKET, "amountIn": "7000"})  # about 1,050,000 USD
        error = assert_error(refused, 422, code="order_too_large", field="amountIn")
        assert "of 1000000 USD" in error["message"]
        assert (await chain.submit({**WAITING, "amountIn": "6000"})).status_code == 201
