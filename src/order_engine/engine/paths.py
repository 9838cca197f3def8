"""Paths: a pair's pools directly and through an intermediate token (SOL or USDC).

When no venue trades a pair directly (a token launched against SOL, bought with USDC), or
when selling through SOL or USDC returns more than the direct pool, an order takes two
hops: tokenIn → via on the venues' pools, then via → tokenOut. Each hop is planned as a
direct route is (best venue, or a split when it pays); the second on the first hop's
output. Selling more into the first hop always delivers more to sell into the second, so
planning the hops one after the other finds the best two-hop route.

Every path's pools are fetched at once (one round trip per venue and pair); a two-hop
route replaces the direct one only when it returns `min_gain_bps` more (it sends two
transactions, one after the other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from order_engine.domain.errors import ExecutionError, NoRouteError
from order_engine.domain.quotes import BPS, RoutingDecision
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.routing import SplitPolicy, fetch_curves, plan_route
from order_engine.venues.base import PriceCurve, Venue

log = logging.getLogger(__name__)
VIA_SYMBOLS = ("SOL", "USDC")  # the intermediate tokens every venue pairs widely


@dataclass(frozen=True, slots=True)
class TwoHopPolicy:
    """Whether orders may route through an intermediate token, and how much more than the
    direct route such a route must return to be chosen."""

    enabled: bool = True
    min_gain_bps: Decimal = Decimal("10")


@dataclass(frozen=True, slots=True)
class Pools:
    """Every venue's pool for one pair as fetched (and the venues that gave none, why)."""

    curves: list[PriceCurve]
    failures: dict[str, str]

    def only(self, venue: str | None) -> Pools:
        if venue is None:
            return self
        return Pools([c for c in self.curves if c.venue == venue], {})


@dataclass(frozen=True, slots=True)
class Hop:
    via: Token
    first: Pools
    second: Pools


@dataclass(frozen=True, slots=True)
class Paths:
    """A pair's pools: direct (None when no venue trades the pair: `no_direct` says why)
    and through each intermediate token every hop of which some venue trades."""

    t_in: Token
    t_out: Token
    direct: Pools | None
    hops: tuple[Hop, ...] = ()
    no_direct: str = ""

    def only(self, venue: str | None) -> Paths:
        """The pools of one venue (a sniper order's), or all of them."""
        return replace(
            self,
            direct=None if self.direct is None else self.direct.only(venue),
            hops=tuple(Hop(h.via, h.first.only(venue), h.second.only(venue)) for h in self.hops),
        )

    @property
    def empty(self) -> bool:
        return (self.direct is None or not self.direct.curves) and not any(
            h.first.curves and h.second.curves for h in self.hops
        )


def vias_for(tokens: TokenRegistry, t_in: Token, t_out: Token, policy: TwoHopPolicy) -> list[Token]:
    """The intermediate tokens a t_in → t_out order may route through."""
    if not policy.enabled:
        return []
    mints = {t_in.swap_mint, t_out.swap_mint}
    vias = [tokens.get(symbol) for symbol in VIA_SYMBOLS]
    return [v for v in vias if v is not None and v.swap_mint not in mints]


async def fetch_paths(
    venues: Sequence[Venue], t_in: Token, t_out: Token, vias: Sequence[Token], timeout_s: float
) -> Paths:
    """Every venue's pools for the pair and for both hops through each of `vias`, at once.
    The direct pair's errors are raised as `fetch_curves` raises them, except that no venue
    trading the pair is not an error while some two-hop path exists."""
    pairs = [(t_in, t_out)] + [p for v in vias for p in ((t_in, v), (v, t_out))]
    results = await asyncio.gather(
        *(fetch_curves(venues, a, b, timeout_s) for a, b in pairs), return_exceptions=True
    )
    direct, *legs = results
    hops = []
    for via, first, second in zip(vias, legs[::2], legs[1::2], strict=True):
        if isinstance(first, tuple) and isinstance(second, tuple):
            hops.append(Hop(via, Pools(*first), Pools(*second)))
        else:
            log.debug("no path %s->%s->%s", t_in.symbol, via.symbol, t_out.symbol)
    if isinstance(direct, tuple):
        return Paths(t_in, t_out, Pools(*direct), tuple(hops))
    if isinstance(direct, NoRouteError) and hops:
        return Paths(t_in, t_out, None, tuple(hops), direct.message)
    raise direct


def plan_paths(
    paths: Paths, amount: Decimal, split: SplitPolicy, two_hops: TwoHopPolicy
) -> RoutingDecision:
    """The best route for `amount`: direct, unless a two-hop route returns enough more."""
    direct: RoutingDecision | None = None
    error: ExecutionError | None = None
    if paths.direct is not None:
        try:
            direct = plan_route(
                paths.direct.curves, paths.direct.failures, paths.t_in, amount, split
            )
        except ExecutionError as exc:
            error = exc
    best_two: RoutingDecision | None = None
    for hop in paths.hops:
        two = _two_hop(hop, paths.t_in, amount, split)
        if two is not None and (best_two is None or two.amount_out > best_two.amount_out):
            best_two = two
    if best_two is None:
        if direct is not None:
            return direct
        raise error or NoRouteError(
            f"no route {paths.t_in.symbol}->{paths.t_out.symbol}: {paths.no_direct}"
        )
    if direct is None:
        return best_two
    if best_two.amount_out > direct.amount_out * (1 + two_hops.min_gain_bps / BPS):
        return replace(best_two, direct_out=direct.amount_out)
    return direct


def _two_hop(hop: Hop, t_in: Token, amount: Decimal, split: SplitPolicy) -> RoutingDecision | None:
    try:
        first = plan_route(hop.first.curves, hop.first.failures, t_in, amount, split)
        second = plan_route(
            hop.second.curves, hop.second.failures, hop.via, first.amount_out, split
        )
    except ExecutionError:
        return None
    return replace(first, then=second)


class Router:
    """Routes orders over a set of venues: fetches every path's pools and plans the best
    route (direct, split, or two hops), logging each decision with its reason."""

    def __init__(
        self,
        venues: Sequence[Venue],
        tokens: TokenRegistry,
        timeout_s: float,
        split: SplitPolicy | None = None,
        two_hops: TwoHopPolicy | None = None,
    ) -> None:
        self._venues, self._tokens, self._timeout_s = list(venues), tokens, timeout_s
        self._split, self._two_hops = split or SplitPolicy(), two_hops or TwoHopPolicy()

    @property
    def tokens(self) -> TokenRegistry:
        return self._tokens

    async def paths(
        self, t_in: Token, t_out: Token, venues: Sequence[Venue] | None = None, *,
        direct: bool = False,
    ) -> Paths:  # fmt: skip
        """The pair's pools; with `direct`, no path through another token."""
        vias = [] if direct else vias_for(self._tokens, t_in, t_out, self._two_hops)
        return await fetch_paths(venues or self._venues, t_in, t_out, vias, self._timeout_s)

    def plan(self, paths: Paths, amount: Decimal, *, venue: str | None = None) -> RoutingDecision:
        return plan_paths(paths.only(venue), amount, self._split, self._two_hops)

    async def route(
        self, t_in: Token, t_out: Token, amount: Decimal, venues: Sequence[Venue] | None = None,
        *, direct: bool = False,
    ) -> RoutingDecision:  # fmt: skip
        decision = self.plan(await self.paths(t_in, t_out, venues, direct=direct), amount)
        log.info(
            "route %s %s->%s amount=%s: %s",
            decision.dex,
            t_in.symbol,
            t_out.symbol,
            amount,
            decision.reason,
        )
        return decision
