"""Quotes, the slippage rule and the routing decision (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.errors import NoQuotesError

BPS = Decimal(10_000)
IMPACT_PLACES = 8


@dataclass(frozen=True, slots=True)
class Quote:
    """A venue's offer: `amount_out` is after the venue fee, in tokenOut."""

    venue: str
    token_in: str
    token_out: str
    amount_in: Decimal
    price: Decimal  # tokenOut per tokenIn at the pool's mid price, before fee and impact
    fee: Decimal  # fraction, e.g. 0.003
    amount_out: Decimal
    fee_amount: Decimal = Decimal(0)  # the fee, in tokenIn
    price_impact: Decimal = Decimal(0)  # fraction the size moves the price (fee excluded)
    pool_version: int = 0  # the pool state the quote was computed on
    expires_at_ms: int | None = None  # never executed after this (the executor re-quotes)

    def expired(self, now_ms: int) -> bool:
        return self.expires_at_ms is not None and now_ms >= self.expires_at_ms

    @property
    def effective_price(self) -> Decimal:
        return self.amount_out / self.amount_in

    def as_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "price": money(self.price),
            "fee": money(self.fee),
            "amountOut": money(self.amount_out),
            "effectivePrice": money(quantize(self.effective_price, 12)),
            "feeAmount": money(self.fee_amount),
            "priceImpact": f"{quantize(self.price_impact, IMPACT_PLACES):f}",
            "poolVersion": self.pool_version,
            "expiresAtMs": self.expires_at_ms,
        }


def quantize(amount: Decimal, decimals: int) -> Decimal:
    """Round down to `decimals` places: the engine never promises more than it has."""
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def minimum_out(quoted_out: Decimal, slippage_bps: int, decimals: int) -> Decimal:
    """The least output the user accepts: quoted × (1 − slippageBps/10000), rounded down."""
    return quantize(quoted_out * (BPS - slippage_bps) / BPS, decimals)


def slippage_ok(executed_out: Decimal, min_out: Decimal) -> bool:
    return executed_out >= min_out


def plain(amount: Decimal) -> str:
    """An amount without trailing zeros or an exponent ("9.982000000" -> "9.982")."""
    return format(amount.normalize(), "f")


def _edge_bps(better: Decimal, worse: Decimal) -> Decimal:
    return quantize((better - worse) / worse * BPS, 2)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """`candidates` are the whole amount's quote from every venue that could take it and
    `best` the highest of them; `legs` is the chosen route when it splits the order."""

    best: Quote
    candidates: tuple[Quote, ...]
    failures: dict[str, str] = field(default_factory=dict)
    legs: tuple[Quote, ...] = ()

    @property
    def route(self) -> tuple[Quote, ...]:
        return self.legs or (self.best,)

    @property
    def amount_out(self) -> Decimal:
        return sum((q.amount_out for q in self.route), Decimal(0))

    @property
    def dex(self) -> str:
        return "+".join(q.venue for q in self.route)

    @property
    def reason(self) -> str:
        if len(self.route) > 1:
            total_in = sum(q.amount_in for q in self.route)
            shares = " / ".join(
                f"{quantize(q.amount_in / total_in * 100, 1)}% {q.venue}" for q in self.route
            )
            return (
                f"split {shares} returns {self.amount_out} after fees vs the best single "
                f"venue {self.best.venue} {self.best.amount_out} "
                f"(+{_edge_bps(self.amount_out, self.best.amount_out)} bps)"
            )
        others = [q for q in self.candidates if q is not self.best]
        if not others:
            return f"{self.best.venue} was the only venue that quoted"
        runner = max(others, key=lambda q: q.amount_out)
        return (
            f"{self.best.venue} returns {self.best.amount_out} after fees vs "
            f"{runner.venue} {runner.amount_out} "
            f"(+{_edge_bps(self.best.amount_out, runner.amount_out)} bps); splitting did not pay"
        )

    @property
    def price_impact(self) -> Decimal:
        """How far the route moves the price (fee excluded): each leg's impact weighted by
        its share of the input."""
        total_in = sum((q.amount_in for q in self.route), Decimal(0))
        if total_in <= 0:
            return Decimal(0)
        weighted = sum((q.price_impact * q.amount_in for q in self.route), Decimal(0))
        return quantize(weighted / total_in, IMPACT_PLACES)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dex": self.dex,
            "reason": self.reason,
            "amountOut": money(self.amount_out),
            "priceImpact": plain(self.price_impact),
            "route": [
                {"venue": q.venue, "amountIn": plain(q.amount_in), "amountOut": money(q.amount_out)}
                for q in self.route
            ],
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
