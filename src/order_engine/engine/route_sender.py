"""Sending an order's route: check it against the order's terms, build every leg of a hop,
record their signatures (write-ahead, in the `submitted` event or the order's details),
send them and wait for their outcomes. A route through an intermediate token sends its
first hop, then sells what that delivered (`second_hops`), asking at least the whole
route's minimum; a later attempt first sells what an earlier one left held."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal

from order_engine.domain.amounts import money
from order_engine.domain.errors import (
    QuoteExpiredError,
    SlippageExceededError,
    VenueUnavailableError,
)
from order_engine.domain.event_payloads import Building, EventPayload
from order_engine.domain.impact import check_price_impact
from order_engine.domain.legs import Held, LegState, held, unsettled
from order_engine.domain.limits import (
    leg_floors,
    price_ok,
    price_refusal,
    raised_floors,
    route_minimum,
)
from order_engine.domain.orders import Order, OrderStatus
from order_engine.domain.quotes import RoutingDecision
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.account_ports import Funds
from order_engine.engine.paths import Router
from order_engine.engine.ports import Clock
from order_engine.engine.sending import Send, build_leg, send_leg, submitted
from order_engine.engine.settlement import failure_of
from order_engine.engine.waiting_orders import venues_for
from order_engine.engine.write_behind import alongside
from order_engine.venues.base import Venue

log = logging.getLogger(__name__)
S = OrderStatus
MAX_REQUOTES = 3
Advance = Callable[[Order, EventPayload, int], Awaitable[None]]


class RouteSender:
    def __init__(
        self,
        venues: Mapping[str, Venue],
        router: Router,
        tokens: TokenRegistry,
        clock: Clock,
        advance: Advance,
        max_impact_bps: int,
        funds: Funds | None = None,
    ) -> None:
        self._venues, self._venue_list = venues, list(venues.values())
        self._router, self._tokens, self._clock = router, tokens, clock
        self._advance, self._max_impact_bps = advance, max_impact_bps
        self._funds = funds

    def funds_ahead(
        self, order: Order, t_in: Token, amount: Decimal
    ) -> asyncio.Future[None] | None:
        """The funds check of a one-transaction route for `amount`, started now, so that the
        wallet's balances are read while the route is found (`send`'s `funds_ahead`); the
        caller cancels it if it is not used."""
        if self._funds is None:
            return None
        check = asyncio.ensure_future(self._funds.check(order.account_id, t_in, amount))
        check.add_done_callback(_retrieved)  # routing may fail before anyone awaits it
        return check

    async def send(
        self, order: Order, attempt: int, decision: RoutingDecision, amount: Decimal,
        t_in: Token, t_out: Token, funds_ahead: Awaitable[None] | None = None,
    ) -> None:  # fmt: skip
        """Check, build and send `decision` for `amount`; then, for a route through an
        intermediate token, sell what its first hop delivered. `funds_ahead`: the funds
        check `funds_ahead` started, used when the route is one transaction."""
        with self._releasing(order, decision):
            await self._send(order, attempt, decision, amount, t_in, t_out, funds_ahead)

    async def _send(
        self, order: Order, attempt: int, decision: RoutingDecision, amount: Decimal,
        t_in: Token, t_out: Token, funds_ahead: Awaitable[None] | None,
    ) -> None:  # fmt: skip
        self._check_route(order, decision, amount, t_in, t_out)
        terms = {"limit_price": order.limit_price, "max_price": order.max_price}
        need = route_minimum(
            decision.amount_out, amount, order.slippage_bps, t_out.decimals, **terms
        )
        if decision.then is None:
            # slippage is measured from this attempt's (fresh) quotes, leg by leg, and a limit
            # (sniper) order's legs never accept less than its limit (more than its cap)
            floors = leg_floors(decision.route, order.slippage_bps, t_out.decimals, **terms)
            need = sum(floors, Decimal(0))
        else:  # the first hop's legs ask their slippage minimum of the intermediate token
            via = self._tokens.find(decision.route[0].token_out, field="via")
            floors = leg_floors(decision.route, order.slippage_bps, via.decimals)
            t_out = via
        building = self._advance(order, Building(decision, need), attempt)
        funds = None
        if self._funds is not None:  # the wallet pays it all, or nothing is sent
            hops = len(decision.hops)
            if funds_ahead is not None and hops == 1:
                funds = funds_ahead
            else:
                funds = self._funds.check(order.account_id, t_in, amount, transactions=hops)
        hop = 0 if decision.then is None else 1
        await self._send_legs(order, attempt, decision, floors, t_in, t_out, hop, building, funds)
        if decision.then is not None:
            await self.second_hops(
                order,
                attempt,
                t_out=self._tokens.find(order.token_out, field="tokenOut"),
                need=need,
            )

    async def second_hops(
        self, order: Order, attempt: int, t_out: Token, need: Decimal | None = None
    ) -> None:
        """Sell what first hops delivered and no second hop took yet for tokenOut, asking at
        least `need` (this attempt's whole-route minimum) or, on a later attempt, the
        slippage minimum of a fresh quote (and the order's price terms)."""
        for left in held(order.legs):
            via = self._tokens.find(left.via, field="via")
            decision = await self.fresh_route(order, via, t_out, left.amount, direct=True)
            with self._releasing(order, decision):
                await self._sell_held(order, attempt, decision, left, via, t_out, need)

    async def _sell_held(
        self, order: Order, attempt: int, decision: RoutingDecision, left: Held, via: Token,
        t_out: Token, need: Decimal | None,
    ) -> None:  # fmt: skip
        """Sell what one first hop delivered by `decision` (its price checked first)."""
        max_bps = order.max_price_impact_bps or self._max_impact_bps
        check_price_impact(decision, max_bps, amount=left.amount, token=via.symbol)
        terms = {"limit_price": order.limit_price, "max_price": order.max_price}
        least = route_minimum(
            decision.amount_out, left.bought_with, order.slippage_bps, t_out.decimals, **terms
        )
        least = max(least, need or Decimal(0))
        if decision.amount_out < least:
            raise SlippageExceededError(
                f"selling {money(left.amount)} {via.symbol} now returns "
                f"{money(decision.amount_out)} {t_out.symbol}, below the route's minimum "
                f"{money(least)}; nothing was sent"
            )
        floors = leg_floors(decision.route, order.slippage_bps, t_out.decimals)
        floors = raised_floors(decision.route, floors, least, t_out.decimals)
        await self._send_legs(order, attempt, decision, floors, via, t_out, 2)

    def release(self, order: Order) -> None:
        """The order's attempt stopped: no venue counts the swaps it chose and did not
        sign any more."""
        for venue in self._venues.values():
            venue.release(order.id)

    @contextlib.contextmanager
    def _releasing(self, order: Order, decision: RoutingDecision) -> Iterator[None]:
        """If sending `decision` stops, its venues stop counting the swaps it chose and
        did not sign (`fresh_route` told them)."""
        try:
            yield
        except BaseException:
            for venue in {q.venue for q in decision.route}:
                self._venues[venue].release(order.id)
            raise

    async def _send_legs(
        self, order: Order, attempt: int, decision: RoutingDecision, floors: list[Decimal],
        t_in: Token, t_out: Token, hop: int, building: Awaitable[None] | None = None,
        funds: Awaitable[None] | None = None,
    ) -> None:  # fmt: skip
        """Check the funds and build every leg of one hop (while `building` is written),
        record them (write-ahead), send them and wait for their outcomes; raise if one
        failed or its outcome is not known yet."""
        via = None if hop == 0 else (t_out.symbol if hop == 1 else t_in.symbol)

        async def build_all() -> list[Send]:
            if funds is not None:
                await funds
            sends = []
            for q, floor in zip(decision.route, floors, strict=True):
                venue, owner = self._venues[q.venue], order.account_id
                leg = build_leg(
                    venue, order.id, q, floor, attempt, t_in, t_out, hop=hop, via=via, owner=owner
                )
                sends.append(await leg)
            return sends

        sends = await (build_all() if building is None else alongside(building, build_all()))
        if any(q.expired(self._clock.now_ms()) for q in decision.route):
            raise QuoteExpiredError("the quote expired before the swap was sent; re-quoting")
        order.legs.extend(leg for _, _, leg in sends)
        # persisted before sending: a write-ahead record of every signature
        await self._advance(order, submitted(sends), attempt)
        sent = await asyncio.gather(*(send_leg(self._venues, v, tx, leg) for v, tx, leg in sends))
        order.legs[len(order.legs) - len(sent) :] = sent
        failed = [leg for leg in sent if leg.state is LegState.FAILED]
        if unsettled(sent):
            raise VenueUnavailableError("a sent transaction's outcome is not known yet")
        if failed:
            raise failure_of(failed)

    def _check_route(
        self, order: Order, decision: RoutingDecision, amount: Decimal, t_in: Token, t_out: Token
    ) -> None:
        """Send nothing when the route breaks the order's terms: a fired limit or sniper
        order whose fresh route no longer meets its price (slippage: retried), or a route
        that moves the price more than the order allows (refused for good)."""
        if not price_ok(order, decision.amount_out, amount, t_out.decimals):
            raise SlippageExceededError(price_refusal(order, decision.amount_out, amount))
        max_bps = order.max_price_impact_bps or self._max_impact_bps
        check_price_impact(decision, max_bps, amount=amount, token=t_in.symbol)

    async def fresh_route(
        self, order: Order, t_in: Token, t_out: Token, amount: Decimal, *, direct: bool = False
    ) -> RoutingDecision:
        """A route on the order's venues whose quotes have not expired (an expired quote is
        never executed); with `direct`, no route through another token."""
        venues = venues_for(self._venue_list, order)
        for _ in range(MAX_REQUOTES):
            decision = await self._router.route(t_in, t_out, amount, venues, direct=direct)
            if not any(q.expired(self._clock.now_ms()) for q in decision.route):
                for quote in decision.route:  # before this task yields: the next order's
                    self._venues[quote.venue].expect(quote, order.id)  # quotes count it
                return decision
            log.info("quotes for %s->%s expired before use; re-quoting", t_in.symbol, t_out.symbol)
        raise QuoteExpiredError(f"every quote expired before use ({MAX_REQUOTES} tries)")


def _retrieved(check: asyncio.Future[None]) -> None:
    """Mark a check's outcome as seen (no "exception never retrieved" for an unused one)."""
    if not check.cancelled():
        check.exception()
