"""The executor on inputs that must never give a wrong result (issue 11): a submitted order
shows where it went, a deterministic failure is never retried, and an order that would move
the price too far sends nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from order_engine.domain.errors import NoRouteError, PriceImpactTooHighError
from order_engine.domain.orders import Order, OrderStatus
from order_engine.domain.quotes import Quote, RoutingDecision
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.executor import OrderExecutor
from order_engine.venues.sim.simulated import simulated_venues
from tests.unit.fakes import Rig, ScriptedVenue

D = Decimal


def sim_rig(max_price_impact_bps: int | None = None) -> Rig:
    rig = Rig(simulated_venues(seed=7, latency_scale=0, tokens=TokenRegistry()))
    if max_price_impact_bps is not None:
        rig.executor = OrderExecutor(
            rig.store,
            rig.bus,
            rig.venues,
            rig.clock,
            rig.policy,
            tokens=rig.tokens,
            quote_timeout_s=5.0,
            max_price_impact_bps=max_price_impact_bps,
        )
    return rig


async def test_a_submitted_order_shows_its_dex_and_tx_hash() -> None:
    raydium = ScriptedVenue("raydium", "150", auto_land=False)
    rig = Rig([raydium, ScriptedVenue("meteora", "140", "0.002")])
    order_id = await rig.new_order()
    attempt = asyncio.create_task(rig.executor.handle(rig.job(order_id, 1)))
    async with asyncio.timeout(2):
        await raydium.confirm_waiting.wait()
    order = await rig.store.get(order_id)
    submitted = (await rig.dicts(order_id))[-1]
    raydium.land_all()
    await attempt
    assert order.status is OrderStatus.SUBMITTED
    assert (order.dex, order.tx_hash) == (submitted["dex"], submitted["txHash"])
    assert (order.dex, order.tx_hash) == ("raydium", "raydium-tx-1")


async def test_a_dust_order_fails_at_once_with_no_route() -> None:
    rig = sim_rig()
    order_id = await rig.new_order(amount="0.000000001")
    assert await rig.run(order_id) == []  # nothing asked for a retry
    assert await rig.statuses(order_id) == [("pending", 0), ("routing", 1), ("failed", 1)]
    order = await rig.store.get(order_id)
    assert order.error is not None and order.error.code == NoRouteError.code
    assert "0.000000001 SOL" in order.error.message


async def test_an_order_over_the_price_impact_guard_fails_at_once_and_sends_nothing() -> None:
    rig = sim_rig()
    order_id = await rig.new_order(amount="50000")
    assert await rig.run(order_id) == []
    assert await rig.statuses(order_id) == [("pending", 0), ("routing", 1), ("failed", 1)]
    order = await rig.store.get(order_id)
    assert order.error is not None and order.error.code == PriceImpactTooHighError.code
    assert "10.00%" in order.error.message and order.legs == []


async def test_the_engine_wide_guard_is_a_setting() -> None:
    rig = sim_rig(max_price_impact_bps=9000)
    order_id = await rig.new_order(amount="50000", slippage_bps=5000)
    await rig.run(order_id)
    assert (await rig.store.get(order_id)).status is OrderStatus.CONFIRMED


async def test_an_order_may_raise_its_own_guard() -> None:
    rig = sim_rig(max_price_impact_bps=1)
    order = Order("own-guard", "SOL", "USDC", D(50000), 5000, rig.clock.now_ms())
    order.max_price_impact_bps = 9000
    await rig.store.create(order, order.start())
    await rig.run(order.id)
    assert (await rig.store.get(order.id)).status is OrderStatus.CONFIRMED


def quote(venue: str, amount_in: str, impact: str) -> Quote:
    return Quote(
        venue, "SOL", "USDC", D(amount_in), D(150), D("0.003"), D(1), price_impact=D(impact)
    )


@pytest.mark.parametrize(
    ("legs", "expected"),
    [
        ((quote("raydium", "10", "0.02"),), "0.02"),
        ((quote("raydium", "30", "0.04"), quote("meteora", "10", "0.08")), "0.05"),
    ],
)
def test_a_routes_price_impact_weighs_each_leg_by_its_input(
    legs: tuple[Quote, ...], expected: str
) -> None:
    decision = RoutingDecision(legs[0], legs, legs=legs if len(legs) > 1 else ())
    assert decision.price_impact == D(expected)
    assert decision.as_dict()["priceImpact"] == expected
