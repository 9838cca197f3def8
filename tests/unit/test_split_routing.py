"""Routing on the simulated pools: a big order is split when that returns more, a small one
goes whole to the best venue, and the decision names every candidate and why it won."""

from __future__ import annotations

from decimal import Decimal

import pytest

from order_engine.domain.split import brute_force_split
from order_engine.domain.tokens import TOKENS, TokenRegistry
from order_engine.engine.paths import Router
from order_engine.engine.routing import SplitPolicy, fetch_curves, plan_route
from order_engine.venues.sim.market import ReferencePrices
from order_engine.venues.sim.pool_book import PoolPair, pool_depth_usd
from order_engine.venues.sim.simulated import simulated_venues

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


def raydium_depth_sol() -> Decimal:
    pair = PoolPair.of(SOL, USDC)
    return pool_depth_usd("raydium", pair) / ReferencePrices().base_price(SOL, USDC)


@pytest.mark.parametrize("seed", [1, 3])
async def test_a_big_order_splits_and_beats_every_single_venue(seed: int) -> None:
    amount = (raydium_depth_sol() * D("0.15")).quantize(D(1))
    curves, failures = await fetch_curves(
        simulated_venues(seed=seed, latency_scale=0, tokens=TokenRegistry()), SOL, USDC, 5
    )
    decision = plan_route(curves, failures, SOL, amount, SplitPolicy())
    assert [q.venue for q in decision.route] == ["raydium", "meteora"]
    assert sum(q.amount_in for q in decision.route) == amount
    assert all(q.amount_in % SOL.quantum == 0 for q in decision.route)
    assert decision.amount_out > max(q.amount_out for q in decision.candidates)
    payload = decision.as_dict()
    assert payload["dex"] == "raydium+meteora"
    assert "split" in payload["reason"] and decision.best.venue in payload["reason"]
    assert {q["venue"] for q in payload["quotes"]} == {"raydium", "meteora"}
    assert all(D(q["priceImpact"]) > 0 for q in payload["quotes"])


@pytest.mark.parametrize("seed", range(1, 7))
async def test_the_route_is_as_good_as_a_brute_force_split(seed: int) -> None:
    """Whether it splits or not (seed 2's Meteora quotes so much higher that it takes the
    whole order), the route returns within 0.1% of the best of 400 fixed split ratios."""
    amount = (raydium_depth_sol() * D("0.15")).quantize(D(1))
    curves, failures = await fetch_curves(
        simulated_venues(seed=seed, latency_scale=0, tokens=TokenRegistry()), SOL, USDC, 5
    )
    decision = plan_route(curves, failures, SOL, amount, SplitPolicy())
    fns = [lambda x, c=c: c.quote(x).amount_out for c in curves]
    brute = brute_force_split(fns, amount, steps=400, quantum=SOL.quantum)
    assert decision.amount_out >= brute.total_out * D("0.999")
    assert decision.amount_out >= max(q.amount_out for q in decision.candidates)


async def test_a_small_order_goes_whole_to_the_best_venue() -> None:
    curves, failures = await fetch_curves(
        simulated_venues(seed=5, latency_scale=0, tokens=TokenRegistry()), SOL, USDC, 5
    )
    decision = plan_route(curves, failures, SOL, D("1.5"), SplitPolicy())
    assert len(decision.route) == 1 and decision.route[0] is decision.best
    assert decision.best.amount_out == max(q.amount_out for q in decision.candidates)
    assert "splitting did not pay" in decision.reason


async def test_splitting_can_be_turned_off() -> None:
    amount = (raydium_depth_sol() * D("0.15")).quantize(D(1))
    curves, failures = await fetch_curves(
        simulated_venues(seed=1, latency_scale=0, tokens=TokenRegistry()), SOL, USDC, 5
    )
    decision = plan_route(curves, failures, SOL, amount, SplitPolicy(enabled=False))
    assert decision.route == (decision.best,)


async def test_the_split_is_the_same_whichever_way_the_curves_are_asked() -> None:
    """Deterministic: the same seed gives the same route, through the `Router` as through
    `fetch_curves` + `plan_route`."""
    amount = D(1500)
    tokens = TokenRegistry()
    router = Router(simulated_venues(seed=9, latency_scale=0, tokens=tokens), tokens, 5)
    direct = await router.route(SOL, USDC, amount)
    curves, failures = await fetch_curves(
        simulated_venues(seed=9, latency_scale=0, tokens=TokenRegistry()), SOL, USDC, 5
    )
    planned = plan_route(curves, failures, SOL, amount, SplitPolicy())
    assert [(q.venue, q.amount_in, q.amount_out) for q in direct.route] == [
        (q.venue, q.amount_in, q.amount_out) for q in planned.route
    ]
