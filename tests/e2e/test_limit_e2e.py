"""Limit orders over HTTP and WebSocket on the embedded engine: one that fills, one that
expires, one cancelled while waiting."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from order_engine.api.event_models import EVENT
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
        response = await eng.client.post(f"/api/orders/{order_id}/cancel", json={})
        assert response.status_code == 200, response.text
        events = await eng.stream(order_id)
        executions = await eng.engine.executions(order_id)
        again = await eng.client.post(f"/api/orders/{order_id}/cancel", json={})
    assert statuses(first_two) == ["pending", "waiting"]
    assert statuses(events) == ["pending", "waiting", "cancelled"]
    assert executions == [] and again.status_code == 409


async def test_a_fired_limit_order_whose_price_moved_away_waits_again(tmp_path: Path) -> None:
    """Limits near the top of the simulated quotes: orders fire when a quote pays them, and
    the swap's drift often lands below the limit, so the swap reverts. Such an order goes
    back to `waiting` (never `failed`) and ends filled at its limit or expired."""
    limit = D("151.5")  # SOL at 150 USDC; quotes at 150 × U(0.97|0.98, 1.02), less fees
    body = {**LIMIT, "amountIn": "0.1", "limitPrice": str(limit), "timeInForceSeconds": 4}
    async with running_engine(tmp_path, limit_check_interval_s=0.02) as eng:
        ids = [await eng.order_id(body) for _ in range(12)]
        async with asyncio.timeout(20):
            streams = await asyncio.gather(*(eng.stream(i) for i in ids))
    ends = [statuses(events)[-1] for events in streams]
    assert set(ends) <= {"confirmed", "expired"}, ends
    waited_again = [e for e in streams if statuses(e).count("waiting") > 1]
    assert waited_again, [statuses(e) for e in streams]
    for events in waited_again:
        got = statuses(events)
        again = got.index("waiting", 2)
        assert got[again - 1] in ("routing", "building", "submitted")
        assert "price moved away" in events[again]["reason"]
        assert EVENT.validate_python(events[again]).model_dump(exclude_unset=True) == events[again]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for events in streams:
        if events[-1]["status"] == "confirmed":
            assert D(events[-1]["amountOut"]) >= D("0.1") * limit
