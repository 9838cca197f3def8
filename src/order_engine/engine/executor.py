"""`OrderExecutor`: one job delivery = one attempt at quote → route → build → submit →
confirm, for every leg of the route (one transaction per venue when the order is split).
A retry never re-sends a status already sent and never executes a swap twice: every leg's
signature is persisted before it is sent, and a later attempt first settles every leg an
earlier one recorded (asking the venue whether it landed), then routes only what is left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.errors import (
    ConcurrentUpdateError,
    ExecutionError,
    OrderNotFoundError,
    PermanentExecutionError,
    QuoteExpiredError,
    SlippageExceededError,
    VenueUnavailableError,
)
from order_engine.domain.impact import DEFAULT_MAX_PRICE_IMPACT_BPS, check_price_impact
from order_engine.domain.legs import Leg, LegState, unfilled, unsettled
from order_engine.domain.limits import leg_floors, price_ok, price_refusal
from order_engine.domain.orders import Order, OrderError, OrderEvent, OrderStatus
from order_engine.domain.quotes import Quote, RoutingDecision
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.ports import Clock, EventBus, Job, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.routing import SplitPolicy, route
from order_engine.engine.service import publish_best_effort
from order_engine.engine.settlement import (
    NOT_SENT,
    confirm_leg,
    failure_of,
    settle_all,
    settle_leg,
)
from order_engine.engine.waiting_orders import WaitingOrders, venues_for
from order_engine.venues.base import SwapTransaction, Venue

log = logging.getLogger(__name__)
S = OrderStatus
MAX_REQUOTES = 3


class OrderExecutor:
    def __init__(
        self,
        store: OrderStore,
        bus: EventBus,
        venues: Sequence[Venue],
        clock: Clock,
        policy: RetryPolicy,
        *,
        tokens: TokenRegistry,
        quote_timeout_s: float,
        split_policy: SplitPolicy | None = None,
        waiting_orders: WaitingOrders | None = None,
        max_price_impact_bps: int = DEFAULT_MAX_PRICE_IMPACT_BPS,
    ) -> None:
        self._store, self._bus, self._clock, self._policy = store, bus, clock, policy
        self._tokens = tokens
        self._venue_list = list(venues)
        self._venues = {v.name: v for v in venues}
        self._quote_timeout_s = quote_timeout_s
        self._split = split_policy or SplitPolicy()
        self._waiting = waiting_orders
        self._max_impact_bps = max_price_impact_bps

    def _waiting_orders(self) -> WaitingOrders:
        if self._waiting is None:
            raise PermanentExecutionError("this engine was built without limit and sniper orders")
        return self._waiting

    async def handle(self, job: Job) -> None:
        """Run one attempt. Raises (so the queue retries with backoff) only when the
        error is retryable and attempts remain; otherwise the order ends `failed`.

        The attempt number comes from the order (the last one it started + 1), so a
        recovered job continues the count instead of starting again at 1."""
        try:
            order = await self._store.get(job.order_id)
        except OrderNotFoundError:
            log.warning("job for unknown order %s dropped", job.order_id)
            return
        if order.is_terminal:
            return
        attempt = max(job.attempt, order.attempt + 1)
        try:
            if attempt > self._policy.max_attempts:
                await self._exhausted(order, attempt)
            else:
                await self._attempt(order, attempt)
        except ConcurrentUpdateError:
            await self._after_race(job)
        except ExecutionError as exc:
            await self._on_error(order, attempt, exc)
        except Exception:
            log.exception("order %s attempt %d crashed", job.order_id, attempt)
            if attempt >= self._policy.max_attempts:
                await self._fail_crashed(job.order_id, attempt)
            raise

    async def _fail_crashed(self, order_id: str, attempt: int) -> None:
        order = await self._store.get(order_id)
        if order.is_terminal or unsettled(order.legs):
            return  # a sent transaction may still land: the recovery sweep asks the venue
        now = self._clock.now_ms()
        error = OrderError("internal_error", "the engine hit an unexpected error", attempt, now)
        order.record_attempt_error(error)
        await self._emit(order, order.fail(error, ts_ms=now))

    async def _exhausted(self, order: Order, attempt: int) -> None:
        """A recovered order that already used every attempt: settle it, never retry."""
        order.attempt = attempt
        if await self._finish_filled(order):
            return
        last = order.attempt_errors[-1] if order.attempt_errors else None
        now = self._clock.now_ms()
        error = OrderError(
            last.code if last else "attempts_exhausted",
            f"{last.message if last else 'no attempt finished'} "
            f"(after {self._policy.max_attempts} attempts)",
            order.attempt,
            now,
        )
        await self._emit(order, order.fail(error, ts_ms=now))

    async def _after_race(self, job: Job) -> None:
        order = await self._store.get(job.order_id)
        if not order.is_terminal:  # someone else moved it, but it is not over: try again
            raise ConcurrentUpdateError(f"order {order.id} changed during attempt {job.attempt}")

    async def _on_error(self, order: Order, attempt: int, exc: ExecutionError) -> None:
        now = self._clock.now_ms()
        error = OrderError(exc.code, exc.message, attempt, now)
        order.record_attempt_error(error)
        log.info("order %s attempt %d failed: %s", order.id, attempt, exc.message)
        if self._policy.should_retry(exc, attempt):
            await self._store.save_details(order)
            raise exc
        if await self._finish_filled(order):
            return
        final = error
        if not isinstance(exc, PermanentExecutionError):
            final = OrderError(exc.code, f"{exc.message} (after {attempt} attempts)", attempt, now)
        await self._emit(order, order.fail(final, ts_ms=now))

    async def _finish_filled(self, order: Order) -> bool:
        """No attempt left: settle what was sent; confirm what filled (maybe a part)."""
        order.legs, _ = await settle_all(self._venues, order.legs)
        if not order.fill.legs:
            return False
        await self._confirm(order)
        return True

    async def _attempt(self, order: Order, attempt: int) -> None:
        decision = None
        if order.type.waits and order.status in (S.PENDING, S.WAITING):
            decision = await self._waiting_orders().check(order)
            if decision is None:
                return  # still waiting (or expired): not an attempt
        order.attempt = attempt
        order.legs, error = await settle_all(self._venues, order.legs)
        if error is not None:
            raise error  # an earlier transaction's outcome is unknown: never send another
        remaining = unfilled(order.amount_in, order.legs)
        if remaining <= 0:
            await self._confirm(order)
            return
        await self._advance(order, S.ROUTING, attempt)
        t_in = self._tokens.find(order.token_in, field="tokenIn")
        t_out = self._tokens.find(order.token_out, field="tokenOut")
        if decision is None or remaining != order.amount_in:
            decision = await self._fresh_route(
                venues_for(self._venue_list, order), t_in, t_out, remaining
            )
        self._check_route(order, decision, remaining, t_in, t_out)
        # slippage is measured from this attempt's (fresh) quotes, leg by leg, and a limit
        # (sniper) order's legs never accept less than its limit (more than its cap)
        floors = leg_floors(
            decision.route,
            order.slippage_bps,
            t_out.decimals,
            limit_price=order.limit_price,
            max_price=order.max_price,
        )
        building = {**decision.as_dict(), "minAmountOut": money(sum(floors, Decimal(0)))}
        await self._advance(order, S.BUILDING, attempt, building)
        sends = [
            await self._build(order.id, q, floor, attempt, t_in, t_out)
            for q, floor in zip(decision.route, floors, strict=True)
        ]
        if any(q.expired(self._clock.now_ms()) for q in decision.route):
            raise QuoteExpiredError("the quote expired before the swap was sent; re-quoting")
        order.legs.extend(leg for _, _, leg in sends)
        # persisted before sending: a write-ahead record of every signature
        await self._advance(order, S.SUBMITTED, attempt, _submitted_data(sends))
        sent = await asyncio.gather(*(self._send(venue, tx, leg) for venue, tx, leg in sends))
        order.legs[len(order.legs) - len(sent) :] = sent
        failed = [leg for leg in sent if leg.state is LegState.FAILED]
        if unsettled(sent):
            raise VenueUnavailableError("a sent transaction's outcome is not known yet")
        if failed:
            raise failure_of(failed)
        await self._confirm(order)

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

    async def _fresh_route(
        self, venues: list[Venue], t_in: Token, t_out: Token, amount: Decimal
    ) -> RoutingDecision:
        """A route whose quotes have not expired (an expired quote is never executed)."""
        for _ in range(MAX_REQUOTES):
            decision = await route(venues, t_in, t_out, amount, self._quote_timeout_s, self._split)
            if not any(q.expired(self._clock.now_ms()) for q in decision.route):
                return decision
            log.info("quotes for %s->%s expired before use; re-quoting", t_in.symbol, t_out.symbol)
        raise QuoteExpiredError(f"every quote expired before use ({MAX_REQUOTES} tries)")

    async def _build(
        self, order_id: str, quote: Quote, floor: Decimal, attempt: int, t_in: Token, t_out: Token
    ) -> tuple[Venue, SwapTransaction, Leg]:
        venue = self._venues[quote.venue]
        tx = await venue.build(
            quote, token_in=t_in, token_out=t_out, min_amount_out=floor, order_id=order_id
        )
        leg = Leg(venue.name, tx.signature, quote.amount_in, floor, attempt, signed=tx.signed)
        return venue, tx, leg

    async def _send(self, venue: Venue, tx: SwapTransaction, leg: Leg) -> Leg:
        try:
            await venue.submit(tx)
        except ExecutionError as exc:
            log.info("sending %s to %s failed: %s", tx.signature, venue.name, exc.message)
            try:
                settled = await settle_leg(self._venues, leg)  # did it reach the venue anyway?
            except ExecutionError:
                return leg
            if settled.state is LegState.FAILED and settled.code == NOT_SENT:
                return leg.failed(exc.message, exc.code)  # it did not: say why
            return settled
        try:
            return await confirm_leg(venue, leg)
        except ExecutionError:
            return leg  # unknown for now: the next attempt settles it before anything else

    async def _advance(
        self, order: Order, status: OrderStatus, attempt: int, data: dict[str, Any] | None = None
    ) -> None:
        """Emit `status` unless an earlier attempt already did; then only save details."""
        if order.status is status or _sent_before(order.status, status):
            order.attempt = attempt
            if status is S.SUBMITTED:  # the new transaction's signature, before sending
                order.note_submission(data)
                await self._store.save_details(order)
            return
        await self._emit(
            order, order.apply(status, ts_ms=self._clock.now_ms(), attempt=attempt, data=data)
        )

    async def _confirm(self, order: Order) -> None:
        await self._emit(order, order.confirm_fill(ts_ms=self._clock.now_ms()))

    async def _emit(self, order: Order, event: OrderEvent) -> None:
        await self._store.append(order, event)
        await publish_best_effort(self._bus, event)


def _submitted_data(sends: list[tuple[Venue, SwapTransaction, Leg]]) -> dict[str, Any]:
    first = sends[0][1]
    return {
        "txHash": first.signature,
        "dex": "+".join(venue.name for venue, _, _ in sends),
        "minAmountOut": money(sum((leg.min_amount_out for _, _, leg in sends), Decimal(0))),
        "steps": list(first.steps),
        "legs": [{**leg.as_dict(), "steps": list(tx.steps)} for _, tx, leg in sends],
    }


_ORDER = (S.PENDING, S.WAITING, S.ROUTING, S.BUILDING, S.SUBMITTED)


def _sent_before(current: OrderStatus, wanted: OrderStatus) -> bool:
    return current in _ORDER and wanted in _ORDER and _ORDER.index(current) > _ORDER.index(wanted)
