"""Executing a route of several legs: a split fills on both venues; a leg that reverts is
re-quoted and re-routed for what it left unfilled; attempts spent with part of the order
filled confirm it as partial; expired quotes are never sent; a crash mid-split never
sends a leg twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.domain.errors import SlippageExceededError
from order_engine.domain.legs import LegState
from tests.unit.fakes import Rig, ScriptedVenue

D = Decimal
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]


def deep_venues(**raydium_script: Any) -> tuple[ScriptedVenue, ScriptedVenue]:
    """Two pools of 100 SOL at the same price: a 20 SOL order pays to split."""
    raydium = ScriptedVenue("raydium", "150", "0.003", depth="100", **raydium_script)
    meteora = ScriptedVenue("meteora", "150", "0.002", depth="100")
    return raydium, meteora


async def test_a_big_order_is_split_and_both_legs_fill() -> None:
    raydium, meteora = deep_venues()
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order(amount="20")
    assert await rig.run(order_id) == []
    events = await rig.dicts(order_id)
    assert [e["status"] for e in events] == HAPPY
    building, submitted, confirmed = events[2], events[3], events[4]
    assert building["dex"] == "raydium+meteora" and "split" in building["reason"]
    shares = [D(leg["amountIn"]) for leg in building["route"]]
    assert sum(shares) == D(20) and all(D(6) < s < D(14) for s in shares)
    assert [leg["txHash"] for leg in submitted["legs"]] == ["raydium-tx-1", "meteora-tx-1"]
    assert raydium.submits == ["raydium-tx-1"] and meteora.submits == ["meteora-tx-1"]
    outs = [D(leg["amountOut"]) for leg in confirmed["legs"]]
    assert D(confirmed["amountOut"]) == sum(outs)
    assert (confirmed["partial"], confirmed["filledAmountIn"]) == (False, "20")
    single = D(100) * 150 * D("19.96") / (D(100) + D("19.96"))  # meteora alone, whole
    assert D(confirmed["amountOut"]) > single
    assert D(confirmed["amountOut"]) >= D(confirmed["minAmountOut"])


async def test_a_reverted_leg_is_rerouted_for_what_it_left_unfilled() -> None:
    raydium, meteora = deep_venues(fills=["0.9"])  # raydium's first leg reverts
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order(amount="20")
    raised = await rig.run(order_id)
    assert [type(e) for e in raised] == [SlippageExceededError]
    order = await rig.store.get(order_id)
    states = [(leg.dex, leg.attempt, leg.state) for leg in order.legs]
    assert states[:2] == [
        ("raydium", 1, LegState.FAILED),
        ("meteora", 1, LegState.LANDED),
    ]
    assert all(state is LegState.LANDED for _, attempt, state in states[2:])
    first_leg = order.legs[0]
    assert first_leg.code == "slippage_exceeded"
    retried = sum((leg.amount_in for leg in order.legs[2:]), D(0))
    assert retried == first_leg.amount_in  # only the unfilled part went out again
    events = await rig.dicts(order_id)
    assert [(e["status"], e["attempt"]) for e in events][-1] == ("confirmed", 2)
    assert (events[-1]["partial"], events[-1]["filledAmountIn"]) == (False, "20")
    assert [(e.code, e.attempt) for e in order.attempt_errors] == [("slippage_exceeded", 1)]


async def test_attempts_spent_with_part_filled_confirm_a_partial_fill() -> None:
    raydium, meteora = deep_venues(fills=["0.9"] * 10)  # raydium always reverts
    rig = Rig([raydium, meteora], max_attempts=2)
    order_id = await rig.new_order(amount="20")
    await rig.run(order_id)
    confirmed = (await rig.dicts(order_id))[-1]
    assert confirmed["status"] == "confirmed" and confirmed["partial"] is True
    filled, unfilled = D(confirmed["filledAmountIn"]), D(confirmed["unfilledAmountIn"])
    assert filled + unfilled == D(20) and D(0) < unfilled < D(20)
    landed = [leg for leg in confirmed["legs"] if leg["state"] == "landed"]
    assert {leg["dex"] for leg in landed} == {"meteora"}
    assert sum(D(leg["amountIn"]) for leg in landed) == filled
    assert D(confirmed["amountOut"]) == sum(D(leg["amountOut"]) for leg in landed)
    failed = [leg for leg in confirmed["legs"] if leg["state"] == "failed"]
    assert failed and all(leg["error"]["code"] == "slippage_exceeded" for leg in failed)


async def test_nothing_filled_fails_and_lists_every_leg() -> None:
    raydium = ScriptedVenue("raydium", "150", depth="100", fills=["0.9"] * 10)
    meteora = ScriptedVenue("meteora", "150", "0.002", depth="100", fills=["0.9"] * 10)
    rig = Rig([raydium, meteora], max_attempts=2)
    order_id = await rig.new_order(amount="20")
    await rig.run(order_id)
    failed = (await rig.dicts(order_id))[-1]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "slippage_exceeded"
    assert len(failed["legs"]) == 4 and {leg["state"] for leg in failed["legs"]} == {"failed"}


async def test_an_expired_quote_is_requoted_not_sent() -> None:
    raydium = ScriptedVenue("raydium", "150", expiries=[0])  # the first quote is stale
    meteora = ScriptedVenue("meteora", "140", expiries=[0])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    assert await rig.run(order_id) == []
    assert raydium.quote_calls == meteora.quote_calls == 2
    assert [tx.quote.expires_at_ms for tx in raydium.builds] == [None]
    assert [s for s, _ in await rig.statuses(order_id)] == HAPPY


async def test_quotes_that_keep_expiring_fail_the_attempt_as_transient() -> None:
    raydium = ScriptedVenue("raydium", "150", expiries=[0, 0, 0])
    meteora = ScriptedVenue("meteora", "140", expiries=[0, 0, 0])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    raised = await rig.run(order_id)
    assert [e.code for e in raised] == ["quote_expired"]  # type: ignore[attr-defined]
    assert raydium.builds[0].quote.expires_at_ms is None and len(raydium.builds) == 1
    assert [(s, a) for s, a in await rig.statuses(order_id)][-1] == ("confirmed", 2)


async def test_a_crash_mid_split_settles_both_legs_without_resending() -> None:
    raydium, meteora = deep_venues(confirm_errors=[RuntimeError("worker crashed")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order(amount="20")
    with pytest.raises(RuntimeError):
        await rig.executor.handle(rig.job(order_id, 1))
    await rig.executor.handle(rig.job(order_id, 2))
    assert raydium.submits == ["raydium-tx-1"] and meteora.submits == ["meteora-tx-1"]
    assert raydium.status_calls == ["raydium-tx-1"]
    assert len(raydium.builds) == len(meteora.builds) == 1
    events = await rig.dicts(order_id)
    assert [e["status"] for e in events] == HAPPY
    assert events[-1]["partial"] is False and len(events[-1]["legs"]) == 2
