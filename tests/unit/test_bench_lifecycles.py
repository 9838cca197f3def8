"""The benchmark's verdict on an order: the happy lifecycle, a market failure (failed on
slippage after every attempt: a right lifecycle, reported apart, not confirmed), or a bad
one (anything else fails the run)."""

from __future__ import annotations

from typing import Any

from bench.cluster import ended_right
from bench.lifecycles import HAPPY, lifecycle_problem, market_failure
from bench.report import orders_ok

ORDER = "6ff741b4-0000-4000-8000-000000000000"
CONFIRMED = {"txHash": "5x", "dex": "meteora", "executedPrice": "150", "amountOut": "1500"}


def stream(*statuses: str, **last: Any) -> list[dict[str, Any]]:
    events = [
        {"orderId": ORDER, "status": s, "seq": i, "tsMs": 1000 + i, "attempt": 1}
        for i, s in enumerate(statuses, start=1)
    ]
    events[-1].update(last)
    return events


def slipped(code: str = "slippage_exceeded") -> dict[str, Any]:
    return {"error": {"code": code, "message": "output fell below the minimum (after 3 attempts)"}}


def test_the_happy_lifecycle_is_right_and_no_market_failure() -> None:
    events = stream(*HAPPY, **CONFIRMED)
    assert lifecycle_problem(ORDER, events, 1000) is None
    assert market_failure(events) is None


def test_failing_on_slippage_after_the_send_is_a_right_lifecycle_of_its_own_kind() -> None:
    events = stream("pending", "routing", "building", "submitted", "failed", **slipped())
    assert lifecycle_problem(ORDER, events, 1000) is None
    assert market_failure(events) == "slippage_exceeded"


def test_failing_on_slippage_before_anything_was_sent_is_right_too() -> None:
    events = stream("pending", "routing", "failed", **slipped())
    assert lifecycle_problem(ORDER, events, 1000) is None


def test_any_other_failure_is_a_bad_order() -> None:
    events = stream("pending", "routing", "building", "submitted", "failed", **slipped("x"))
    problem = lifecycle_problem(ORDER, events, 1000)
    assert problem is not None and problem.startswith("statuses") and "'x'" in problem
    assert market_failure(events) is None


def test_a_market_failure_with_a_status_out_of_order_or_a_gap_in_seq_is_bad() -> None:
    swapped = stream("pending", "building", "routing", "submitted", "failed", **slipped())
    assert lifecycle_problem(ORDER, swapped, 1000) is not None
    gap = stream("pending", "routing", "building", "submitted", "failed", **slipped())
    gap[-1]["seq"] = 6
    assert lifecycle_problem(ORDER, gap, 1000) == "seqs [1, 2, 3, 4, 6]"
    assert lifecycle_problem(ORDER, stream("pending", "routing", "failed", **slipped()), 1006)


def test_a_confirmed_event_without_its_execution_is_bad() -> None:
    events = stream(*HAPPY, **{**CONFIRMED, "txHash": None})
    assert lifecycle_problem(ORDER, events, 1000) == f"confirmed lacks {tuple(CONFIRMED)}"


def report(confirmed: int, market: int, bad: int, orders: int = 10) -> dict[str, Any]:
    intake = {"accepted": 5, "orders": 5, "drain": {"drained": True}}
    e2e = {
        "orders": orders,
        "confirmed_ok": confirmed,
        "market_failed_count": market,
        "bad_count": bad,
    }
    return {"intake": intake, "e2e": e2e}


def test_a_run_is_right_when_every_order_confirmed_or_failed_on_the_market() -> None:
    assert orders_ok(report(10, 0, 0))
    assert orders_ok(report(7, 3, 0))
    assert not orders_ok(report(7, 2, 1))
    assert not orders_ok(report(7, 2, 0))  # one never ended
    undrained = report(10, 0, 0)
    undrained["intake"]["drain"]["drained"] = False
    assert not orders_ok(undrained)


def test_stored_orders_ended_right_only_as_confirmed_at_seq_5_or_failed_on_the_market() -> None:
    assert ended_right({("confirmed", 5): 9, ("failed", 5): 1}, {"slippage_exceeded": 1}, 10)
    assert not ended_right({("confirmed", 5): 9, ("failed", 5): 1}, {"internal_error": 1}, 10)
    assert not ended_right({("confirmed", 5): 9, ("submitted", 4): 1}, {}, 10)
    assert not ended_right({("confirmed", 6): 10}, {}, 10)
    assert not ended_right({("confirmed", 5): 9}, {}, 10)  # one is missing
