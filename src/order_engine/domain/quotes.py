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
    # the engine's own swaps in flight on the pool, same direction, in tokenIn: priced ahead
    ahead_amount_in: Decimal = Decimal(0)

    def expired(self, now_ms: int) -> bool:
        return self.expires_at_ms is not None and now_ms >= self.expires_at_ms

    @property
    def effective_price(self) -> Decimal:
        return self.amount_out / self.amount_in

    def as_dict(self) -> dict[str, Any]:
        out = {
            "venue": self.venue,
            "tokenIn": self.token_in,
            "tokenOut": self.token_out,
            "price": money(self.price),
            "fee": money(self.fee),
            "amountOut": money(self.amount_out),
            "effectivePrice": money(quantize(self.effective_price, 12)),
            "feeAmount": money(self.fee_amount),
            "priceImpact": f"{quantize(self.price_impact, IMPACT_PLACES):f}",
            "poolVersion": self.pool_version,
            "expiresAtMs": self.expires_at_ms,
        }
        if self.ahead_amount_in > 0:
            out["aheadAmountIn"] = money(self.ahead_amount_in)
        return out


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
    `best` the highest of them; `legs` is the chosen route when it splits the order.

    A route through an intermediate token is this decision for its first hop (tokenIn →
    via) with `then`, the decision for its second hop (via → tokenOut) planned on the first
    hop's output; `direct_out` is what the best direct route would return (None: none)."""

    best: Quote
    candidates: tuple[Quote, ...]
    failures: dict[str, str] = field(default_factory=dict)
    legs: tuple[Quote, ...] = ()
    then: RoutingDecision | None = None
    direct_out: Decimal | None = None

    @property
    def route(self) -> tuple[Quote, ...]:
        """The quotes sent first: the whole route, or a two-hop route's first hop."""
        return self.legs or (self.best,)

    @property
    def hops(self) -> tuple[Quote, ...]:
        """Every quote of the route in the order it runs (a two-hop route's both hops)."""
        return self.route + (self.then.route if self.then else ())

    @property
    def via(self) -> str | None:
        return None if self.then is None else self.best.token_out

    @property
    def amount_out(self) -> Decimal:
        if self.then is not None:
            return self.then.amount_out
        return sum((q.amount_out for q in self.route), Decimal(0))

    @property
    def dex(self) -> str:
        return "+".join(dict.fromkeys(q.venue for q in self.hops))

    @property
    def reason(self) -> str:
        if self.then is not None:
            return self._two_hop_reason(self.then)
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

    def _two_hop_reason(self, then: RoutingDecision) -> str:
        hops = f"two hops via {self.via} ({'+'.join(q.venue for q in self.route)}, then "
        hops += f"{'+'.join(q.venue for q in then.route)}) return {self.amount_out} after fees"
        if self.direct_out is None:
            return f"{hops}; no venue trades the pair directly"
        edge = _edge_bps(self.amount_out, self.direct_out)
        return f"{hops} vs {self.direct_out} direct (+{edge} bps)"

    @property
    def price_impact(self) -> Decimal:
        """How far the route moves the price (fee excluded): each leg's impact weighted by
        its share of the input; a two-hop route compounds its hops' impacts."""
        total_in = sum((q.amount_in for q in self.route), Decimal(0))
        if total_in <= 0:
            return Decimal(0)
        weighted = sum((q.price_impact * q.amount_in for q in self.route), Decimal(0))
        impact = weighted / total_in
        if self.then is not None:
            impact = 1 - (1 - impact) * (1 - self.then.price_impact)
        return quantize(impact, IMPACT_PLACES)

    def as_dict(self) -> dict[str, Any]:
        then = self.then
        out: dict[str, Any] = {
            "dex": self.dex,
            "reason": self.reason,
            "amountOut": money(self.amount_out),
            "priceImpact": plain(self.price_impact),
            "route": [_route_leg(q) for q in self.hops],
            "quotes": [q.as_dict() for q in self.candidates + (then.candidates if then else ())],
            "unavailable": {**self.failures, **(then.failures if then else {})},
        }
        if then is not None:
            out["via"] = self.via
        return out


def _route_leg(q: Quote) -> dict[str, Any]:
    return {
        "venue": q.venue,
        "tokenIn": q.token_in,
        "tokenOut": q.token_out,
        "amountIn": plain(q.amount_in),
        "amountOut": money(q.amount_out),
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
