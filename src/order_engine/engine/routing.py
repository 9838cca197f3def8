"""Routing: fetch every venue's pool state concurrently (each with a timeout), quote the
whole amount on each, and split the order across venues when that returns more.

A venue's `PriceCurve` quotes any amount locally, so finding the split costs no extra
round trips: `optimal_split` searches the shares on the curves fetched once. A split is
only tried when it could pay: if even the best venue's price with no price impact at all
cannot beat the best single quote by `min_gain_bps`, the order goes to that venue whole.
`engine.paths.Router` fetches and plans with these, directly and through SOL or USDC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.amounts import money
from order_engine.domain.errors import ChainUnavailableError, ExecutionError, NoRouteError
from order_engine.domain.quotes import BPS, Quote, RoutingDecision, choose_best
from order_engine.domain.split import optimal_split
from order_engine.domain.tokens import Token
from order_engine.venues.base import PriceCurve, Venue

MARGIN_SLICES = 64  # the slice whose price is "the price at the margin": 1/64 of the order
NO_ROUTE = f"{NoRouteError.code}:"  # how a venue's "cannot trade this amount" reads


@dataclass(frozen=True, slots=True)
class SplitPolicy:
    """When an order is split: only if it returns more than `min_gain_bps` over the best
    single venue, and never with a leg under `min_leg_fraction` of the amount."""

    enabled: bool = True
    min_gain_bps: Decimal = Decimal("1")
    min_leg_fraction: Decimal = Decimal("0.01")


async def _curve(venue: Venue, t_in: Token, t_out: Token, timeout_s: float) -> PriceCurve:
    async with asyncio.timeout(timeout_s):
        return await venue.curve(t_in, t_out)


async def fetch_curves(
    venues: Sequence[Venue], t_in: Token, t_out: Token, timeout_s: float
) -> tuple[list[PriceCurve], dict[str, str]]:
    """Every venue's curve, at once; a venue that errs or times out is left out and named.
    Raises `NoRouteError` when no venue trades the pair."""
    results = await asyncio.gather(
        *(_curve(v, t_in, t_out, timeout_s) for v in venues), return_exceptions=True
    )
    curves: list[PriceCurve] = []
    failures: dict[str, str] = {}
    no_route = chain_down = 0
    for venue, result in zip(venues, results, strict=True):
        if isinstance(result, TimeoutError):
            failures[venue.name] = f"no quote within {timeout_s}s"
        elif isinstance(result, ExecutionError):
            no_route += isinstance(result, NoRouteError)
            chain_down += isinstance(result, ChainUnavailableError)
            failures[venue.name] = f"{result.code}: {result.message}"
        elif isinstance(result, BaseException):
            raise result
        else:
            curves.append(result)
    if not curves and no_route == len(venues):
        raise NoRouteError(f"no venue trades {t_in.symbol}->{t_out.symbol}")
    if not curves and venues and chain_down == len(venues):  # an outage, not a market fact
        detail = "; ".join(f"{venue}: {why}" for venue, why in failures.items())
        raise ChainUnavailableError(f"the chain did not answer ({detail})")
    return curves, failures


def plan_route(
    curves: Sequence[PriceCurve],
    failures: dict[str, str],
    t_in: Token,
    amount: Decimal,
    policy: SplitPolicy,
) -> RoutingDecision:
    """Quote `amount` on every curve, pick the best, and split when it pays."""
    failures = dict(failures)
    quotes: list[Quote] = []
    usable: list[PriceCurve] = []
    for curve in curves:
        try:
            quotes.append(curve.quote(amount))
            usable.append(curve)
        except NoRouteError as exc:
            failures[curve.venue] = f"{exc.code}: {exc.message}"
            usable.append(curve)  # too small for the whole amount, maybe not for a part
    if not quotes and curves and all(f.startswith(NO_ROUTE) for f in failures.values()):
        # every venue answered, and none can take this amount (dust, or more than the
        # pools hold): the same answer on every retry, so not a transient error
        detail = "; ".join(f"{venue}: {why}" for venue, why in failures.items())
        raise NoRouteError(f"no venue can trade {money(amount)} {t_in.symbol} ({detail})")
    decision = choose_best(quotes, failures)
    if policy.enabled and len(usable) > 1 and _split_could_pay(decision, usable, amount, policy):
        legs = _split(usable, t_in, amount, policy)
        if len(legs) > 1:
            return RoutingDecision(decision.best, decision.candidates, failures, legs)
    return decision


def _split_could_pay(
    decision: RoutingDecision, curves: Sequence[PriceCurve], amount: Decimal, policy: SplitPolicy
) -> bool:
    """Two cheap necessary conditions (outputs are concave in the input):
    - the most any route could return, the whole amount at the best fee-adjusted mid price
      (no price impact anywhere), beats the best single quote by `min_gain_bps`;
    - moving the order's last slice off the best venue pays: some other venue's price at
      size zero beats the best venue's price at the margin."""
    best = decision.best
    ceiling = max(amount * q.price * (1 - q.fee) for q in decision.candidates)
    if ceiling <= best.amount_out * (1 + policy.min_gain_bps / BPS):
        return False
    curve = next(c for c in curves if c.venue == best.venue)
    slice_in = amount / MARGIN_SLICES
    try:
        margin = (best.amount_out - curve.amount_out(amount - slice_in)) / slice_in
    except NoRouteError:
        return True
    return any(
        q.price * (1 - q.fee) > margin for q in decision.candidates if q.venue != best.venue
    ) or len(decision.candidates) < len(curves)


def _split(
    curves: Sequence[PriceCurve], t_in: Token, amount: Decimal, policy: SplitPolicy
) -> tuple[Quote, ...]:
    plan = optimal_split(
        [c.amount_out for c in curves],
        amount,
        quantum=t_in.quantum,
        min_gain_bps=policy.min_gain_bps,
        min_leg_fraction=policy.min_leg_fraction,
    )
    return tuple(c.quote(a) for c, a in zip(curves, plan.allocations, strict=True) if a > 0)
