"""Each event payload serializes to exactly the wire shape clients read (field names, key
order, money as strings), built in one place (`domain.event_payloads`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.domain.event_payloads import (
    PAYLOADS,
    Building,
    Cancelled,
    Confirmed,
    Expired,
    Failed,
    LimitTerms,
    Pending,
    Routing,
    SentLeg,
    SniperTerms,
    Submitted,
    Waiting,
)
from order_engine.domain.legs import Leg, Receipt, SignedTx
from order_engine.domain.orders import Order, OrderError, OrderStatus, OrderType
from order_engine.domain.quotes import Quote, RoutingDecision
from tests.event_samples import SAMPLES, payload_for

D = Decimal
RAY = Quote("raydium", "SOL", "USDC", D("1"), D("150"), D("0.0025"), D("149.5"), D("0.0025"))
MET = Quote("meteora", "SOL", "USDC", D("0.5"), D("150"), D("0.002"), D("74.85"), D("0.001"))
SENT = Leg("raydium", "sig-1", D("1"), D("148"), 1, signed=SignedTx("AAAA", 159))
SENT_2 = Leg("meteora", "sig-2", D("0.5"), D("74.1"), 1)
LANDED = SENT.landed(D("149.5"), Receipt(10, 5067, 60112))


def floats(value: Any, path: str = "") -> list[str]:
    """Where a JSON value holds a float."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in floats(v, f"{path}[{i}]")]
    return [path] if isinstance(value, float) else []


def test_there_is_one_payload_per_status() -> None:
    assert sorted(p.status for p in PAYLOADS) == sorted(OrderStatus)
    assert {s: type(p) for s, p in SAMPLES.items()} == {p.status: p for p in PAYLOADS}


def test_pending_and_routing_add_nothing() -> None:
    assert Pending().as_dict() == {} and Routing().as_dict() == {}


def test_a_waiting_limit_order_shows_its_limit_best_price_and_expiry() -> None:
    waiting = Waiting(D("149.81"), 1_800_000, 2.0, LimitTerms(D("150.5")))
    assert list(waiting.as_dict().items()) == [
        ("bestPrice", "149.81"),
        ("expiresAtMs", 1_800_000),
        ("checkEveryS", 2.0),
        ("limitPrice", "150.5"),
    ]


def test_a_waiting_sniper_order_shows_its_token_venue_cap_and_inverted_price() -> None:
    waiting = Waiting(D("2000"), None, 0.5, SniperTerms("NEWT", None, D("0.01")), "why")
    assert waiting.as_dict() == {
        "bestPrice": "0.000500000000",  # tokenIn per tokenOut, like maxPrice
        "expiresAtMs": None,
        "checkEveryS": 0.5,
        "token": "NEWT",
        "venue": "any",
        "maxPrice": "0.01",
        "reason": "why",
    }
    unknown = Waiting(None, 5, 2.0, SniperTerms("NEWT", "meteora", None))
    assert (unknown.as_dict()["bestPrice"], unknown.as_dict()["venue"]) == (None, "meteora")
    assert unknown.as_dict()["maxPrice"] is None


def test_building_is_the_routing_decision_and_its_minimum_out() -> None:
    decision = RoutingDecision(RAY, (RAY, MET), {"orca": "down"})
    data = Building(decision, D("147.0150")).as_dict()
    assert data == {**decision.as_dict(), "minAmountOut": "147.0150"}
    assert list(data) == [
        "dex", "reason", "amountOut", "priceImpact", "route", "quotes", "unavailable",
        "minAmountOut",
    ]  # fmt: skip
    assert data["route"] == [
        {"venue": "raydium", "tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1",
         "amountOut": "149.5"}
    ]  # fmt: skip
    assert [q["venue"] for q in data["quotes"]] == ["raydium", "meteora"]
    assert data["unavailable"] == {"orca": "down"}


def test_submitted_names_the_first_leg_and_every_leg_with_its_steps() -> None:
    submitted = Submitted((SentLeg(SENT, ("wrap", "swap")), SentLeg(SENT_2, ("swap 2",))))
    assert (submitted.tx_hash, submitted.dex, submitted.min_amount_out) == (
        "sig-1",
        "raydium+meteora",
        D("222.1"),
    )
    assert submitted.as_dict() == {
        "txHash": "sig-1",
        "dex": "raydium+meteora",
        "minAmountOut": "222.1",
        "steps": ["wrap", "swap"],
        "legs": [
            {**SENT.as_dict(), "steps": ["wrap", "swap"]},
            {**SENT_2.as_dict(), "steps": ["swap 2"]},
        ],
    }
    assert submitted.as_dict()["legs"][0]["lastValidBlockHeight"] == 159
    with pytest.raises(ValueError, match="at least one leg"):
        Submitted(())


def confirmed(unfilled: Decimal, *, inverted: bool = False) -> Confirmed:
    return Confirmed(
        "sig-1", "raydium", D("149.5"), D("149.5"), D("148"), D("1"), unfilled,
        (LANDED, SENT_2.failed("reverted", "slippage_exceeded")), inverted,
    )  # fmt: skip


def test_confirmed_reports_the_fill_and_every_leg() -> None:
    data = confirmed(D(0)).as_dict()
    assert data == {
        "txHash": "sig-1",
        "dex": "raydium",
        "executedPrice": "149.5",
        "amountOut": "149.5",
        "minAmountOut": "148",
        "filledAmountIn": "1",
        "partial": False,
        "legs": [LANDED.as_dict(), SENT_2.failed("reverted", "slippage_exceeded").as_dict()],
    }
    assert data["legs"][0] | {"slot": 10, "fee": 5067, "computeUnits": 60112} == data["legs"][0]
    assert data["legs"][1]["error"] == {"code": "slippage_exceeded", "message": "reverted"}


def test_a_partial_fill_says_what_it_did_not_fill() -> None:
    data = confirmed(D("0.50")).as_dict()
    assert (data["partial"], data["unfilledAmountIn"]) == (True, "0.5")


def test_a_sniper_orders_confirmed_prices_are_tokenin_per_tokenout() -> None:
    data = confirmed(D(0), inverted=True).as_dict()
    assert data["executedPrice"] == "0.006688963210"
    assert data["legs"][0]["executedPrice"] == "0.006688963210"


def test_failed_carries_the_error_every_attempt_and_legs_only_when_sent() -> None:
    first = OrderError("venue_unavailable", "raydium is down", attempt=1, ts_ms=10)
    final = OrderError("venue_unavailable", "gave up", attempt=2, ts_ms=20)
    assert Failed(final, (first,)).as_dict() == {
        "error": {"code": "venue_unavailable", "message": "gave up"},
        "attempts": [{"code": "venue_unavailable", "message": "raydium is down",
                      "attempt": 1, "tsMs": 10}],
    }  # fmt: skip
    with_legs = Failed(final, (first,), (SENT_2.failed("x", "y"),)).as_dict()
    assert with_legs["legs"] == [SENT_2.failed("x", "y").as_dict()]


def test_cancelled_and_expired_give_their_reason() -> None:
    assert Cancelled().as_dict() == {"reason": "cancelled by user"}
    assert Expired(1_800_000).as_dict() == {
        "reason": "the time in force ran out",
        "expiresAtMs": 1_800_000,
    }


@pytest.mark.parametrize("status", list(OrderStatus))
def test_money_is_never_a_float(status: OrderStatus) -> None:
    assert set(floats(SAMPLES[status].as_dict())) <= {".checkEveryS"}


def submitted_sniper() -> Order:
    order = Order("o-1", "SOL", "NEWT", D("1"), 50, created_ms=1, type=OrderType.SNIPER)
    order.start()
    for status in (OrderStatus.ROUTING, OrderStatus.BUILDING, OrderStatus.SUBMITTED):
        order.apply(payload_for(status), ts_ms=2, attempt=1)
    order.legs = [LANDED]
    return order


def test_the_order_builds_its_confirmed_and_failed_payloads_in_its_convention() -> None:
    order = submitted_sniper()
    event = order.confirm_fill(ts_ms=3)
    shown = {**LANDED.as_dict(), "executedPrice": "0.006688963210"}
    assert event.data == confirmed(D(0), inverted=True).as_dict() | {"legs": [shown]}
    assert event.data["legs"] == order.legs_view()
    failing = submitted_sniper()
    failed = failing.fail(OrderError("x", "y", 1, 4), ts_ms=4)
    assert failed.data["legs"] == [shown] == failing.legs_view()
