"""Routing: best fee-adjusted output wins; the slippage floor is rounded down."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.domain.errors import NoQuotesError
from order_engine.domain.quotes import (
    Quote,
    RoutingDecision,
    choose_best,
    minimum_out,
    quantize,
    slippage_ok,
)

D = Decimal


def quote(venue: str, price: str, fee: str, amount_in: str = "10", decimals: int = 6) -> Quote:
    amount = D(amount_in)
    out = quantize(amount * D(price) * (1 - D(fee)), decimals)
    return Quote(venue, "SOL", "USDC", amount, D(price), D(fee), out)


def test_highest_fee_adjusted_output_wins() -> None:
    raydium = quote("raydium", "150", "0.003")  # 1495.5
    meteora = quote("meteora", "151", "0.002")  # 1506.98
    decision = choose_best([raydium, meteora])
    assert decision.best is meteora
    assert decision.candidates == (raydium, meteora)


def test_better_raw_price_with_a_higher_fee_can_lose() -> None:
    raydium = quote("raydium", "100", "0.003")  # 997.0
    meteora = quote("meteora", "99.95", "0.002")  # 997.501
    assert raydium.price > meteora.price
    assert raydium.amount_out == D("997.000000")
    assert meteora.amount_out == D("997.501000")
    assert choose_best([raydium, meteora]).best is meteora
    assert choose_best([meteora, raydium]).best is meteora


def test_better_raw_price_wins_when_the_fee_gap_is_smaller_than_the_price_gap() -> None:
    raydium = quote("raydium", "100", "0.003")  # 997.0
    meteora = quote("meteora", "99.85", "0.002")  # 996.503
    assert choose_best([meteora, raydium]).best is raydium


def test_ties_go_to_the_first_venue_listed() -> None:
    a = quote("raydium", "150", "0.002")
    b = quote("meteora", "150", "0.002")
    assert a.amount_out == b.amount_out
    assert choose_best([a, b]).best is a
    assert choose_best([b, a]).best is b


def test_a_single_quote_is_chosen_and_said_to_be_alone() -> None:
    only = quote("meteora", "150", "0.002")
    decision = choose_best([only], {"raydium": "timed out"})
    assert decision.best is only
    assert decision.reason == "meteora was the only venue that quoted"
    assert decision.failures == {"raydium": "timed out"}


def test_no_quotes_raises_and_names_the_failures() -> None:
    with pytest.raises(NoQuotesError, match=r"raydium: down; meteora: timed out"):
        choose_best([], {"raydium": "down", "meteora": "timed out"})
    with pytest.raises(NoQuotesError, match="no venues"):
        choose_best([])


def test_reason_names_both_venues_and_the_edge() -> None:
    raydium = quote("raydium", "100", "0.003")
    meteora = quote("meteora", "99.95", "0.002")
    reason = choose_best([raydium, meteora]).reason
    assert "meteora" in reason and "raydium" in reason
    assert "997.501000" in reason and "997.000000" in reason
    # (997.501 - 997) / 997 * 10000 = 5.0250... bps, rounded down to 2 places
    assert "+5.02 bps" in reason


@pytest.mark.parametrize(
    ("quoted", "bps", "decimals", "expected"),
    [
        ("100", 50, 6, "99.5"),
        ("100", 0, 6, "100"),
        ("100", 10_000, 6, "0"),
        ("1.234567", 100, 6, "1.222221"),  # 1.22222133 rounded down
        ("0.000003", 50, 6, "0.000002"),  # 0.000002985 rounded down, never up
        ("223.875", 50, 6, "222.755625"),
        ("1", 1, 9, "0.9999"),
        ("7.99999", 30, 5, "7.97599"),  # 7.975990003 rounded down to BONK's 5 places
    ],
)
def test_minimum_out_is_hand_computed(quoted: str, bps: int, decimals: int, expected: str) -> None:
    result = minimum_out(D(quoted), bps, decimals)
    assert result == D(expected)
    assert result.as_tuple().exponent == -decimals


def test_quantize_rounds_down_only() -> None:
    assert quantize(D("1.9999999"), 6) == D("1.999999")
    assert quantize(D("2"), 2) == D("2.00")
    assert str(quantize(D("2"), 2)) == "2.00"


def test_slippage_ok_accepts_the_floor_and_rejects_one_unit_below() -> None:
    floor = minimum_out(D("100"), 50, 6)
    assert slippage_ok(D("99.5"), floor)
    assert slippage_ok(D("101"), floor)
    assert not slippage_ok(D("99.499999"), floor)


def test_effective_price_is_after_fee() -> None:
    q = quote("raydium", "150", "0.003", amount_in="2")
    assert q.amount_out == D("299.1")
    assert q.effective_price == D("149.55")


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def test_as_dict_has_only_strings_for_money() -> None:
    decision = choose_best(
        [quote("raydium", "100", "0.003"), quote("meteora", "99.95", "0.002")],
        {"jupiter": "no pool"},
    )
    payload = decision.as_dict()
    assert payload["dex"] == "meteora"
    assert payload["unavailable"] == {"jupiter": "no pool"}
    assert [q["venue"] for q in payload["quotes"]] == ["raydium", "meteora"]
    assert payload["quotes"][1] == {
        "venue": "meteora",
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "price": "99.95",
        "fee": "0.002",
        "amountOut": "997.501000",
        "effectivePrice": "99.750100000000",
        "feeAmount": "0",
        "priceImpact": "0.00000000",
        "poolVersion": 0,
        "expiresAtMs": None,
    }
    for q in payload["quotes"]:  # the two non-money fields: a version and a timestamp
        assert isinstance(q.pop("poolVersion"), int) and q.pop("expiresAtMs") is None
    assert all(isinstance(leaf, str) for leaf in leaves(payload))


def test_decision_keeps_the_candidates_in_the_order_given() -> None:
    quotes = [quote("a", "1", "0"), quote("b", "3", "0"), quote("c", "2", "0")]
    decision = choose_best(quotes)
    assert isinstance(decision, RoutingDecision)
    assert [q.venue for q in decision.candidates] == ["a", "b", "c"]
    assert decision.best.venue == "b"
    assert " vs c " in decision.reason  # compared with the runner-up, not the first loser
