"""Whether an order's event stream, as a benchmark client read it, is right: the happy
lifecycle, or a market failure (failed on slippage at every attempt: right, reported apart,
never counted as confirmed); anything else is a bad order and fails the run."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]
CONFIRMED_FIELDS = ("txHash", "dex", "executedPrice", "amountOut")
# An order that ends `failed` with one of these codes did what it should: the market moved
# beyond its slippage tolerance on every attempt (the simulated venues' drift, the chain's
# background trading). The benchmark reports these apart; any other failure is a bad order.
MARKET_FAILURES = frozenset({"slippage_exceeded"})


def reason(events: list[Event]) -> str:
    """A failed order's error, for the report (empty for any other end)."""
    reason = (events or [{}])[-1].get("error")
    return f" ({str(reason)[:160]})" if reason else ""


def market_failure(events: list[Event]) -> str | None:
    """The code of the error the stream ended `failed` with, if it is a market's move
    (`MARKET_FAILURES`); None for any other end."""
    last = (events or [{}])[-1]
    error = last.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if last.get("status") == "failed" and code in MARKET_FAILURES:
        return str(code)
    return None


def expected_statuses(events: list[Event]) -> list[str]:
    """The happy lifecycle; for a market failure, the happy statuses it reached, then
    `failed` (retries never send a status twice)."""
    if market_failure(events) is None:
        return HAPPY
    return [*HAPPY[: max(len(events) - 1, 1)], "failed"]


def lifecycle_problem(order_id: str, events: list[Event], close_code: int) -> str | None:
    """Why this stream is not exactly the happy lifecycle (or a market failure's), or None."""
    got = [e.get("status") for e in events]
    expected = expected_statuses(events)
    seqs = [e.get("seq") for e in events]
    ended = (events or [{}])[-1]
    checks = (
        (got == expected, f"statuses {got}{reason(events)}"),
        (seqs == list(range(1, len(expected) + 1)), f"seqs {seqs}"),
        (all(e.get("orderId") == order_id for e in events), "an event names another order"),
        (
            all(
                isinstance(e.get("tsMs"), int) and isinstance(e.get("attempt"), int) for e in events
            ),
            "tsMs/attempt not integers",
        ),
        (
            ended.get("status") != "confirmed" or all(ended.get(k) for k in CONFIRMED_FIELDS),
            f"confirmed lacks {CONFIRMED_FIELDS}",
        ),
        (close_code == 1000, f"close code {close_code}"),
    )
    return next((problem for ok, problem in checks if not ok), None)
