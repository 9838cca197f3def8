"""Limit orders over HTTP and WebSocket on the embedded engine: one that fills, one that
expires, one cancelled while waiting."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tests.e2e.harness import assert_lifecycle, running_engine, statuses

D = Decimal
LIMIT = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "type": "limit"}


async def test_a_limit_order_the_market_pays_fills_and_streams_waiting(tmp_path: Path) -> None:
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        response = await eng.submit({**LIMIT, "limitPrice": "100"})
        assert response.status_code == 201, response.text
        order_id = response.json()["orderId"]
        events = await eng.stream(order_id)
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
    assert statuses(events) == [
        "pending",
        "waiting",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]
    assert_lifecycle(events, order_id, "confirmed")
    waiting = events[1]
    assert waiting["limitPrice"] == "100" and D(waiting["bestPrice"]) > 100
    assert waiting["attempt"] == 0 and isinstance(waiting["expiresAtMs"], int)
    confirmed = events[-1]
    assert D(confirmed["amountOut"]) >= D(200) and D(confirmed["minAmountOut"]) >= D(200)
    assert order["type"] == "limit" and order["limitPrice"] == "100"
    expires = datetime.fromisoformat(order["expiresAt"])
    assert round(expires.timestamp() * 1000) == waiting["expiresAtMs"]
    assert waiting["expiresAtMs"] - events[0]["tsMs"] == 3_600_000  # the default: an hour
    assert D(order["bestPrice"]) > 100


async def test_a_limit_order_out_of_reach_expires(tmp_path: Path) -> None:
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        body = {**LIMIT, "limitPrice": "1000", "timeInForceSeconds": 1}
        order_id = (await eng.submit(body)).json()["orderId"]
        async with asyncio.timeout(10):
            events = await eng.stream(order_id)
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        executions = await eng.engine.executions(order_id)
    assert statuses(events) == ["pending", "waiting", "expired"]
    assert_lifecycle(events, order_id, "expired")
    assert events[-1]["tsMs"] >= events[0]["tsMs"] + 1000
    assert order["status"] == "expired" and executions == []


async def test_a_waiting_limit_order_can_be_cancelled(tmp_path: Path) -> None:
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        order_id = (await eng.submit({**LIMIT, "limitPrice": "1000"})).json()["orderId"]
        first_two = await eng.stream_until(order_id, "waiting")
        response = await eng.client.post(f"/api/orders/{order_id}/cancel")
        assert response.status_code == 200, response.text
        events = await eng.stream(order_id)
        executions = await eng.engine.executions(order_id)
        again = await eng.client.post(f"/api/orders/{order_id}/cancel")
    assert statuses(first_two) == ["pending", "waiting"]
    assert statuses(events) == ["pending", "waiting", "cancelled"]
    assert executions == [] and again.status_code == 409
