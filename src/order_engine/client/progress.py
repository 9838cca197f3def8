"""An order's lifecycle as lines of text: one per event as it arrives, with the time since the
order was accepted (its `pending` event) and since the step before, then the outcome.

    pending                  0 ms  market 1.5 SOL -> USDC
    routing       +5 ms      5 ms  attempt 1
    building      +7 ms     12 ms  meteora: 229.02163 USDC quoted, min 227.876521, impact 0%
                                   meteora returns 229.021630 after fees vs raydium …
    submitted     +1 ms     13 ms  tx bhnQQUuv…
    confirmed     +2 ms     15 ms  228.744888 USDC
    filled 1.5 SOL -> 228.744888 USDC at 152.496592 USDC/SOL on meteora in 15 ms

Times are the engine's (`tsMs`), so a replayed event shows when it happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from order_engine.client.output import STATUS_STYLE, clock_ms, duration, percent, plain, price

STEP_WIDTH, TIME_WIDTH = 10, 10
INDENT = " " * (STEP_WIDTH + 2 * TIME_WIDTH + 2)  # where a step's detail starts

Event = dict[str, Any]


@dataclass(frozen=True)
class Terms:
    """What the order is, for wording its steps: type, tokens and amount."""

    type: str
    token_in: str
    token_out: str
    amount_in: str

    @classmethod
    def of(cls, order: dict[str, Any]) -> Terms:
        return cls(order["type"], order["tokenIn"], order["tokenOut"], order["amountIn"])

    @property
    def price_unit(self) -> str:
        """Sniper prices are tokenIn paid per tokenOut; the others tokenOut per tokenIn."""
        if self.type == "sniper":
            return f"{self.token_in}/{self.token_out}"
        return f"{self.token_out}/{self.token_in}"


class Progress:
    """Turns events into lines; remembers when the order started and the last step."""

    def __init__(self, terms: Terms) -> None:
        self.terms = terms
        self.start_ms: int | None = None
        self.last_ms: int | None = None

    def step(self, event: Event) -> list[Text]:
        """The event's line, and its continuation lines (indented)."""
        ts = int(event["tsMs"])
        start = self.start_ms = ts if self.start_ms is None else self.start_ms
        delta = "" if self.last_ms is None else f"+{duration(max(0, ts - self.last_ms))}"
        self.last_ms = ts
        status = event["status"]
        details = DETAILS[status](event, self.terms) if status in DETAILS else []
        line = Text(f"{status:<{STEP_WIDTH}}", style=STATUS_STYLE.get(status, "bold"))
        line.append(f"{delta:>{TIME_WIDTH}}{duration(ts - start):>{TIME_WIDTH}}", style="dim")
        line.append(f"  {details[0]}" if details else "")
        return [line, *(Text(INDENT + more) for more in details[1:])]

    def outcome(self, event: Event) -> list[Text]:
        """The order's result after its terminal event: the fill, or why there is none."""
        status = event["status"]
        elapsed = duration(0 if self.start_ms is None else int(event["tsMs"]) - self.start_ms)
        if status != "confirmed":
            why = (event.get("error") or {}).get("code") or event.get("reason") or status
            return [Text(f"not filled: {status} ({why}) after {elapsed}", style="bold red")]
        return [Text(fill_text(event, self.terms, elapsed), style="bold green"), *tx_lines(event)]


def fill_text(fill: dict[str, Any], terms: Terms, elapsed: str | None = None) -> str:
    """`filled 1.5 SOL -> 228.74 USDC at 152.49 USDC/SOL on meteora` (of an event or an
    order), with `in <elapsed>`, and what a partial fill left."""
    text = (
        f"filled {plain(fill['filledAmountIn'])} {terms.token_in} -> "
        f"{plain(fill['amountOut'])} {terms.token_out} at {price(fill['executedPrice'])} "
        f"{terms.price_unit} on {fill['dex']}"
    )
    if elapsed is not None:
        text += f" in {elapsed}"
    if fill.get("partial"):
        unfilled = fill.get("unfilledAmountIn")
        left = f": {plain(unfilled)} {terms.token_in} not filled" if unfilled else ""
        text += f" (partial{left})"
    return text


def tx_lines(fill: dict[str, Any]) -> list[Text]:
    """One line per transaction of the fill: signature, venue, and slot and fee on a chain."""
    lines = []
    for leg in fill.get("legs") or [{"txHash": fill.get("txHash"), "dex": fill.get("dex")}]:
        where = [leg.get("dex") or "?"]
        if leg.get("slot") is not None:
            where.append(f"slot {leg['slot']}")
        if leg.get("fee") is not None:
            where.append(f"fee {leg['fee']} lamports")
        lines.append(Text(f"tx {leg.get('txHash')} ({', '.join(where)})"))
    return lines


def _pending(_event: Event, terms: Terms) -> list[str]:
    return [f"{terms.type} {plain(terms.amount_in)} {terms.token_in} -> {terms.token_out}"]


def _waiting(event: Event, terms: Terms) -> list[str]:
    best = event.get("bestPrice")
    now = "" if best is None else f", best now {price(best)}"
    until = event.get("expiresAtMs")
    ends = "" if until is None else f", until {clock_ms(until)} UTC"
    if event.get("token") is not None:  # a sniper order
        cap = event.get("maxPrice")
        limit = "" if cap is None else f", max {plain(cap)} {terms.price_unit}"
        first = f"for {event['token']} on {event.get('venue') or 'any'}{limit}{now}{ends}"
    else:
        first = f"limit {plain(event.get('limitPrice'))} {terms.price_unit}{now}{ends}"
    return [first, *([event["reason"]] if event.get("reason") else [])]


def _routing(event: Event, _terms: Terms) -> list[str]:
    return [f"attempt {event['attempt']}"]


def _building(event: Event, terms: Terms) -> list[str]:
    first = (
        f"{event['dex']}: {plain(event['amountOut'])} {terms.token_out} quoted, "
        f"min {plain(event['minAmountOut'])}, price impact {percent(event.get('priceImpact'))}"
    )
    lines = [first, str(event.get("reason", ""))]
    route = event.get("route") or []
    if len(route) > 1:
        lines.append(
            "route: "
            + "; ".join(
                f"{leg['venue']} {plain(leg['amountIn'])} {leg['tokenIn']} -> "
                f"{plain(leg['amountOut'])} {leg['tokenOut']}"
                for leg in route
            )
        )
    return lines


def _submitted(event: Event, _terms: Terms) -> list[str]:
    legs = event.get("legs") or []
    if len(legs) <= 1:
        return [f"tx {event['txHash']} ({event['dex']})"]
    return [f"{len(legs)} transactions", *(f"tx {leg['txHash']} ({leg['dex']})" for leg in legs)]


def _confirmed(event: Event, terms: Terms) -> list[str]:
    return [f"{plain(event['amountOut'])} {terms.token_out}"]


def _failed(event: Event, _terms: Terms) -> list[str]:
    error = event.get("error") or {}
    return [f"{error.get('code', 'failed')}: {error.get('message', '')}"]


def _ended(event: Event, _terms: Terms) -> list[str]:
    return [str(event.get("reason", ""))]


DETAILS: dict[str, Callable[[Event, Terms], list[str]]] = {
    "pending": _pending,
    "waiting": _waiting,
    "routing": _routing,
    "building": _building,
    "submitted": _submitted,
    "confirmed": _confirmed,
    "failed": _failed,
    "cancelled": _ended,
    "expired": _ended,
}
