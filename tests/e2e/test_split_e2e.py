"""A big order over HTTP and WebSocket: `GET /api/quote` shows the split without executing,
the order executes both legs, and the stream and the order carry every leg."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from order_engine.venues.sim.ledger import InMemorySwapLedger
from tests.e2e.harness import assert_error, assert_lifecycle, running_engine, statuses

D = Decimal
BIG = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2000", "slippageBps": 100}


async def test_quote_shows_the_split_route_and_each_legs_minimum(tmp_path: Path) -> None:
    async with running_engine(tmp_path, rng_seed=1) as eng:
        params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2000", "slippageBps": "100"}
        body = (await eng.client.get("/api/quote", params=params)).json()
        chain = eng.engine.adapters.chain
        assert isinstance(chain, InMemorySwapLedger) and len(chain) == 0  # nothing executed
    assert body["dex"] == "raydium+meteora" and body["slippageBps"] == 100
    legs = body["route"]
    assert [leg["venue"] for leg in legs] == ["raydium", "meteora"]
    assert sum(D(leg["amountIn"]) for leg in legs) == D(2000)
    for leg in legs:
        assert D(leg["minAmountOut"]) == (D(leg["amountOut"]) * D("0.99")).quantize(
            D("0.000001"), rounding="ROUND_DOWN"
        )
    assert D(body["amountOut"]) == sum(D(leg["amountOut"]) for leg in legs)
    assert D(body["amountOut"]) > max(D(q["amountOut"]) for q in body["quotes"])
    quote = body["quotes"][0]
    assert {"feeAmount", "priceImpact", "poolVersion", "expiresAtMs"} <= quote.keys()


async def test_quote_rejects_a_bad_slippage_naming_the_field(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        for bad in ("-1", "5001", "1.5", "x"):
            params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": bad}
            response = await eng.client.get("/api/quote", params=params)
            assert_error(response, 422, field="slippageBps")


async def test_a_split_order_executes_every_leg_and_streams_them(tmp_path: Path) -> None:
    async with running_engine(tmp_path, rng_seed=1) as eng:
        order_id = (await eng.submit(BIG)).json()["orderId"]
        events = await eng.stream(order_id)
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        executions = await eng.engine.executions(order_id)
    assert_lifecycle(events, order_id, "confirmed")
    assert statuses(events) == ["pending", "routing", "building", "submitted", "confirmed"]
    building, submitted, confirmed = events[2], events[3], events[4]
    assert building["dex"] == "raydium+meteora"
    assert [leg["dex"] for leg in submitted["legs"]] == ["raydium", "meteora"]
    assert all(leg["steps"] for leg in submitted["legs"])  # wrap, swap, close per leg
    landed = confirmed["legs"]
    assert [leg["state"] for leg in landed] == ["landed", "landed"]
    assert sorted(e.tx_hash for e in executions) == sorted(leg["txHash"] for leg in landed)
    assert D(confirmed["amountOut"]) == sum(e.amount_out for e in executions)
    assert (confirmed["partial"], confirmed["filledAmountIn"]) == (False, "2000")
    assert all(D(leg["amountOut"]) >= D(leg["minAmountOut"]) for leg in landed)
    assert order["status"] == "confirmed" and order["legs"] == landed
    assert (order["partial"], order["amountOut"]) == (False, confirmed["amountOut"])
