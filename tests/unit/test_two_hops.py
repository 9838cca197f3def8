"""Routes through an intermediate token: when no pool trades a pair directly, or when
selling through SOL (or USDC) returns enough more, an order takes two hops. The second
hop sells exactly what the first delivered; if it fails, the next attempt sells what is
held before routing anything else, and an order that runs out of attempts says what it
holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.api.event_models import EVENT
from order_engine.domain.errors import NoRouteError
from order_engine.domain.legs import Fill, Leg, LegState, held
from order_engine.domain.quotes import minimum_out
from order_engine.domain.tokens import Token
from order_engine.engine.paths import TwoHopPolicy
from order_engine.venues.base import PriceCurve
from tests.unit.fakes import LinearCurve, Rig, ScriptedVenue

D = Decimal
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]


class PairVenue(ScriptedVenue):
    """A scripted venue with one pool per listed pair (tokenOut per tokenIn), none else."""

    def __init__(self, name: str, prices: dict[tuple[str, str], str], **script: Any) -> None:
        super().__init__(name, "1", "0.003", **script)
        self.prices = {pair: D(price) for pair, price in prices.items()}

    async def curve(self, token_in: Token, token_out: Token) -> PriceCurve:
        self.quote_calls += 1
        price = self.prices.get((token_in.symbol, token_out.symbol))
        if price is None:
            raise NoRouteError(f"{self.name}: no pool for {token_in.symbol}/{token_out.symbol}")
        return LinearCurve(self.name, token_in, token_out, price, self.fee)


def bonk_jup(**second_hop: Any) -> tuple[PairVenue, PairVenue]:
    """BONK trades against SOL on one venue, SOL against JUP on another; no BONK/JUP pool."""
    first = PairVenue("raydium", {("BONK", "SOL"): "0.0000002"})
    second = PairVenue("meteora", {("SOL", "JUP"): "200"}, **second_hop)
    return first, second


async def test_a_pair_with_no_pool_routes_through_sol_and_confirms() -> None:
    first, second = bonk_jup()
    rig = Rig([first, second])
    order_id = await rig.new_order("BONK", "JUP", "10000000", slippage_bps=100)
    assert await rig.run(order_id) == []
    events = await rig.dicts(order_id)
    assert [e["status"] for e in events] == HAPPY
    building, done = events[2], events[-1]
    assert building["via"] == "SOL" and "no venue trades the pair directly" in building["reason"]
    hop1, hop2 = done["legs"]
    assert (hop1["hop"], hop1["dex"], hop2["hop"], hop2["dex"]) == (1, "raydium", 2, "meteora")
    assert D(hop1["amountIn"]) == D(10_000_000)
    assert D(hop2["amountIn"]) == D(hop1["amountOut"])  # sells exactly what it bought
    assert D(done["amountOut"]) == D(hop2["amountOut"])
    # the second hop asks at least the whole route's minimum
    assert D(hop2["minAmountOut"]) >= minimum_out(D(building["amountOut"]), 100, 6)
    assert D(done["filledAmountIn"]) == D(10_000_000) and done["partial"] is False
    assert "held" not in done


async def test_a_failed_second_hop_is_retried_for_what_is_held_without_buying_again() -> None:
    first, second = bonk_jup(fills=["0.5"])  # the first second-hop swap reverts
    rig = Rig([first, second])
    order_id = await rig.new_order("BONK", "JUP", "10000000", slippage_bps=100)
    raised = await rig.run(order_id)
    assert len(raised) == 1  # one retry
    done = (await rig.dicts(order_id))[-1]
    assert done["status"] == "confirmed"
    states = [(leg["hop"], leg["state"]) for leg in done["legs"]]
    assert states == [(1, "landed"), (2, "failed"), (2, "landed")]
    assert len(first.builds) == 1  # the first hop ran once
    assert D(done["legs"][2]["amountIn"]) == D(done["legs"][0]["amountOut"])
    assert D(done["filledAmountIn"]) == D(10_000_000) and "held" not in done


async def test_an_order_whose_second_hop_never_lands_fails_saying_what_it_holds() -> None:
    first, second = bonk_jup(fills=["0.5", "0.5", "0.5"])
    rig = Rig([first, second])
    order_id = await rig.new_order("BONK", "JUP", "10000000", slippage_bps=100)
    await rig.run(order_id)
    done = (await rig.dicts(order_id))[-1]
    assert done["status"] == "failed"
    assert done["error"]["code"] == "slippage_exceeded"
    bought = D(done["legs"][0]["amountOut"])
    assert done["held"] == [{"token": "SOL", "amount": str(bought)}]
    assert len(first.builds) == 1 and len(second.builds) == 3


@pytest.mark.parametrize(("direct_price", "via"), [("38", "SOL"), ("39.99", None)])
async def test_two_hops_replace_the_direct_pool_only_when_they_pay_enough_more(
    direct_price: str, via: str | None
) -> None:
    # through SOL, 1 JUP -> 0.005 SOL -> 40 BONK less two 0.3% fees (39.76); the direct
    # pool pays `direct_price` less one fee: 37.89 (two hops win), or 39.87 (direct wins)
    venue = PairVenue(
        "raydium",
        {("JUP", "SOL"): "0.005", ("SOL", "BONK"): "8000", ("JUP", "BONK"): direct_price},
    )
    rig = Rig([venue])
    order_id = await rig.new_order("JUP", "BONK", "100")
    assert await rig.run(order_id) == []
    building = (await rig.dicts(order_id))[2]
    assert building.get("via") == via
    assert len(building["route"]) == (2 if via else 1)


async def test_two_hops_can_be_turned_off() -> None:
    first, second = bonk_jup()
    rig = Rig([first, second], two_hops=TwoHopPolicy(enabled=False))
    order_id = await rig.new_order("BONK", "JUP", "10000000")
    await rig.run(order_id)
    done = (await rig.dicts(order_id))[-1]
    assert (done["status"], done["error"]["code"]) == ("failed", "no_route")


def test_what_a_two_hop_route_filled_and_holds() -> None:
    """Half of what the first hop bought was sold on: the fill is the tokenIn behind that
    half; the other half is held, bought with the other half of the tokenIn."""
    legs = [
        Leg("raydium", "a", D(10), D(4), 1, LegState.LANDED, D(5), hop=1, via="SOL"),
        Leg("meteora", "b", D("2.5"), D(90), 1, LegState.LANDED, D(100), hop=2, via="SOL"),
        Leg("meteora", "c", D("2.5"), D(90), 1, LegState.FAILED, hop=2, via="SOL"),
    ]
    fill = Fill.of(legs)
    assert (fill.amount_in, fill.amount_out, fill.min_amount_out) == (D(5), D(100), D(90))
    assert [leg.tx_hash for leg in fill.legs] == ["b"]
    assert fill.dex == "raydium+meteora"
    [left] = held(legs)
    assert (left.via, left.amount, left.bought_with) == ("SOL", D("2.5"), D(5))


async def test_two_hop_events_match_the_documented_models() -> None:
    """Every event of a two-hop order that filled, retried its second hop, or failed
    holding the intermediate token validates against its status's API model."""
    for fills in ([], ["0.5"], ["0.5", "0.5", "0.5"]):
        first, second = bonk_jup(fills=fills)
        rig = Rig([first, second])
        order_id = await rig.new_order("BONK", "JUP", "10000000", slippage_bps=100)
        await rig.run(order_id)
        for event in await rig.dicts(order_id):
            EVENT.validate_python(event)
