"""Quote every venue concurrently (each with a timeout) and route to the best output."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal

from order_engine.domain.errors import ExecutionError, NoRouteError
from order_engine.domain.quotes import Quote, RoutingDecision, choose_best
from order_engine.domain.tokens import Token
from order_engine.venues.base import Venue

log = logging.getLogger(__name__)


async def _one(venue: Venue, t_in: Token, t_out: Token, amount: Decimal, timeout_s: float) -> Quote:
    async with asyncio.timeout(timeout_s):
        return await venue.quote(t_in, t_out, amount)


async def quote_all(
    venues: Sequence[Venue], t_in: Token, t_out: Token, amount: Decimal, timeout_s: float
) -> RoutingDecision:
    """Ask every venue at once; a venue that errs or times out is left out and named in
    the decision. Raises `NoRouteError` when no venue trades the pair, `NoQuotesError`
    when none answered."""
    results = await asyncio.gather(
        *(_one(v, t_in, t_out, amount, timeout_s) for v in venues), return_exceptions=True
    )
    quotes: list[Quote] = []
    failures: dict[str, str] = {}
    no_route = 0
    for venue, result in zip(venues, results, strict=True):
        if isinstance(result, Quote):
            quotes.append(result)
        elif isinstance(result, TimeoutError):
            failures[venue.name] = f"no quote within {timeout_s}s"
        elif isinstance(result, ExecutionError):
            no_route += isinstance(result, NoRouteError)
            failures[venue.name] = f"{result.code}: {result.message}"
        else:
            raise result
    if not quotes and no_route == len(venues):
        raise NoRouteError(f"no venue trades {t_in.symbol}->{t_out.symbol}")
    decision = choose_best(quotes, failures)
    log.info(
        "route %s %s->%s amount=%s: %s; quotes=%s",
        decision.best.venue,
        t_in.symbol,
        t_out.symbol,
        amount,
        decision.reason,
        [(q.venue, str(q.amount_out)) for q in decision.candidates],
    )
    return decision
