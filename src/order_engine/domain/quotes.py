"""Quotes, the slippage rule and the routing decision (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from order_engine.domain.errors import NoQuotesError

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Quote:
    """A venue's offer: `amount_out` is after the venue fee, in tokenOut."""

    venue: str
    token_in: str
    token_out: str
    amount_in: Decimal
    price: Decimal  # tokenOut per tokenIn before fee
    fee: Decimal  # fraction, e.g. 0.003
    amount_out: Decimal

    @property
    def effective_price(self) -> Decimal:
        return self.amount_out / self.amount_in

    def as_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "price": str(self.price),
            "fee": str(self.fee),
            "amountOut": str(self.amount_out),
            "effectivePrice": str(quantize(self.effective_price, 12)),
        }


def quantize(amount: Decimal, decimals: int) -> Decimal:
    """Round down to `decimals` places: the engine never promises more than it has."""
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def minimum_out(quoted_out: Decimal, slippage_bps: int, decimals: int) -> Decimal:
    """The least output the user accepts: quoted × (1 − slippageBps/10000), rounded down."""
    return quantize(quoted_out * (BPS - slippage_bps) / BPS, decimals)


def slippage_ok(executed_out: Decimal, min_out: Decimal) -> bool:
    return executed_out >= min_out


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    best: Quote
    candidates: tuple[Quote, ...]
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        others = [q for q in self.candidates if q is not self.best]
        if not others:
            return f"{self.best.venue} was the only venue that quoted"
        runner = max(others, key=lambda q: q.amount_out)
        edge = (self.best.amount_out - runner.amount_out) / runner.amount_out * BPS
        return (
            f"{self.best.venue} returns {self.best.amount_out} after fees vs "
            f"{runner.venue} {runner.amount_out} (+{quantize(edge, 2)} bps)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "dex": self.best.venue,
            "reason": self.reason,
            "quotes": [q.as_dict() for q in self.candidates],
            "unavailable": dict(self.failures),
        }


def choose_best(quotes: list[Quote], failures: dict[str, str] | None = None) -> RoutingDecision:
    """Pick the quote with the most fee-adjusted output; ties go to the first venue listed."""
    if not quotes:
        detail = "; ".join(f"{v}: {why}" for v, why in (failures or {}).items())
        raise NoQuotesError(f"no venue returned a quote ({detail or 'no venues'})")
    best = quotes[0]
    for q in quotes[1:]:
        if q.amount_out > best.amount_out:
            best = q
    return RoutingDecision(best, tuple(quotes), dict(failures or {}))
