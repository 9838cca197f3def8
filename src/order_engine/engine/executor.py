"""`OrderExecutor`: one job delivery = one attempt at quote → route → build → submit →
confirm, for every leg of the route (one transaction per venue when the order is split).
A retry never re-sends a status already sent and never executes a swap twice: every leg's
signature is persisted before it is sent, and a later attempt first settles every leg an
earlier one recorded (asking the venue whether it landed), then routes only what is left."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from decimal import Decimal

from order_engine.domain.errors import (
    ChainUnavailableError,
    ConcurrentUpdateError,
    DependencyUnavailableError,
    ExecutionError,
    OrderNotFoundError,
    PermanentExecutionError,
)
from order_engine.domain.event_payloads import EventPayload, Routing, Submitted
from order_engine.domain.impact import DEFAULT_MAX_PRICE_IMPACT_BPS
from order_engine.domain.legs import held, unfilled, unsettled
from order_engine.domain.limits import (
    waits_again,
)
from order_engine.domain.orders import Order, OrderError, OrderEvent, OrderStatus
from order_engine.domain.quotes import RoutingDecision
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.account_ports import Funds
from order_engine.engine.outages import OutageWaits
from order_engine.engine.paths import Router, TwoHopPolicy
from order_engine.engine.ports import Clock, EventBus, Job, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.route_sender import RouteSender
from order_engine.engine.routing import SplitPolicy
from order_engine.engine.service import publish_best_effort
from order_engine.engine.settlement import (
    settle_all,
)
from order_engine.engine.waiting_orders import WaitingOrders
from order_engine.engine.wallets import engine_pays, one_read_per_attempt
from order_engine.engine.write_behind import alongside
from order_engine.venues.base import Venue

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
        two_hop_policy: TwoHopPolicy | None = None,
        waiting_orders: WaitingOrders | None = None,
        max_price_impact_bps: int = DEFAULT_MAX_PRICE_IMPACT_BPS,
        outages: OutageWaits | None = None,
        funds: Funds | None = None,
    ) -> None:
        """`funds`: checks that an order's wallet can pay before anything is sent (chain
        venues; None: no check)."""
        self._store, self._bus, self._clock, self._policy = store, bus, clock, policy
        self._outages = outages or OutageWaits()
        self._tokens = tokens
        self._venues = {v.name: v for v in venues}
        router = Router(venues, tokens, quote_timeout_s, split_policy, two_hop_policy)
        self._routes = RouteSender(
            self._venues, router, tokens, clock, self._advance, max_price_impact_bps, funds
        )
        self._waiting = waiting_orders

    def _waiting_orders(self) -> WaitingOrders:
        if self._waiting is None:
            raise PermanentExecutionError("this engine was built without limit and sniper orders")
        return self._waiting

    async def handle(self, job: Job) -> float | None:
        """Run one attempt. Raises (so the queue retries with backoff) only when the
        error is retryable and attempts remain; otherwise the order ends `failed`. While a
        dependency is down (the database, the chain's node) it returns a delay instead: the
        same attempt runs again after it, for up to the outage budget (`OutageWaits`).

        The attempt number comes from the order (the last one it started + 1), so a
        recovered job continues the count instead of starting again at 1."""
        try:
            with one_read_per_attempt():
                delay = await self._handle(job)
        except DependencyUnavailableError as exc:
            delay = self._outages.delay_s(job.order_id)
            if delay is None:
                raise
            log.warning("order %s waits %.0f s: %s (not an attempt)", job.order_id, delay, exc)
            return delay
        if delay is None:
            self._outages.clear(job.order_id)
        return delay

    async def _handle(self, job: Job) -> float | None:
        try:  # a first delivery carries the order as stored: no need to read it back
            order = job.order or await self._store.get(job.order_id)
        except OrderNotFoundError:
            log.warning("job for unknown order %s dropped", job.order_id)
            return None
        if order.is_terminal:
            return None
        engine_pays(order)  # recorded when it was made: its account need not be read
        attempt = max(job.attempt, order.attempt + 1)
        try:
            if attempt > self._policy.max_attempts:
                await self._exhausted(order, attempt)
            else:
                await self._attempt(order, attempt)
        except ConcurrentUpdateError:
            await self._after_race(job)
        except ChainUnavailableError as exc:
            return await self._chain_down(order, attempt, exc)
        except ExecutionError as exc:
            await self._on_error(order, attempt, exc)
        except DependencyUnavailableError:
            raise  # an outage: `handle` waits it out
        except Exception:
            log.exception("order %s attempt %d crashed", job.order_id, attempt)
            if attempt >= self._policy.max_attempts:
                await self._fail_crashed(job.order_id, attempt)
            raise
        return None

    async def _chain_down(
        self, order: Order, attempt: int, exc: ChainUnavailableError
    ) -> float | None:
        """The chain did not answer: the attempt did not happen (its number is given back)
        and runs again after a delay, unless the outage has outlasted its budget."""
        delay = self._outages.delay_s(order.id)
        if delay is None:
            await self._on_error(order, attempt, exc)
            return None
        last = order.attempt_errors[-1] if order.attempt_errors else None
        if last is None or (last.code, last.attempt) != (exc.code, attempt):  # once per attempt
            order.record_attempt_error(
                OrderError(exc.code, exc.message, attempt, self._clock.now_ms())
            )
        order.attempt = attempt - 1
        await self._store.save_details(order)
        log.warning("order %s waits %.0f s: %s (not an attempt)", order.id, delay, exc.message)
        return delay

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
        if waits_again(order, exc):  # the price moved away: not an attempt
            order.attempt = attempt - 1
            await self._waiting_orders().wait_again(order, exc.message)
            return
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
        if remaining <= 0 and not held(order.legs):
            await self._confirm(order)
            return
        routing = self._advance(order, Routing(), attempt)
        if held(order.legs) or remaining <= 0 or decision is not None:
            await routing
            decision = await self._second_hops_then_route(order, attempt, remaining, decision)
            if decision is not None:
                await self._routes.send(order, attempt, decision, remaining, *self._pair(order))
        else:
            await self._route_and_send(order, attempt, remaining, routing)
        await self._confirm(order)

    async def _route_and_send(
        self, order: Order, attempt: int, amount: Decimal, routing: Awaitable[None]
    ) -> None:
        """The common case: the quotes and the wallet's balances are read while `routing`
        is written."""
        pair = self._pair(order)
        funds = self._routes.funds_ahead(order, pair[0], amount)
        try:
            route = self._routes.fresh_route(order, *pair, amount)
            try:
                decision = await alongside(routing, route)
            except BaseException:  # e.g. its `routing` write failed after the route was chosen
                self._routes.release(order)
                raise
            await self._routes.send(order, attempt, decision, amount, *pair, funds_ahead=funds)
        finally:
            if funds is not None:
                funds.cancel()  # unused (a two-hop route, a failure): nothing waits for it

    def _pair(self, order: Order) -> tuple[Token, Token]:
        t_in = self._tokens.find(order.token_in, field="tokenIn")
        return t_in, self._tokens.find(order.token_out, field="tokenOut")

    async def _route(self, order: Order, amount: Decimal) -> RoutingDecision:
        return await self._routes.fresh_route(order, *self._pair(order), amount)

    async def _second_hops_then_route(
        self, order: Order, attempt: int, remaining: Decimal, decision: RoutingDecision | None
    ) -> RoutingDecision | None:
        """Sell what an earlier hop bought; then the route for what is left, if anything
        (a fired limit order's decision stands when it is for the whole order)."""
        await self._routes.second_hops(order, attempt, self._pair(order)[1])
        if remaining <= 0:
            return None
        if decision is None or remaining != order.amount_in:
            decision = await self._route(order, remaining)
        return decision

    def _advance(self, order: Order, payload: EventPayload, attempt: int) -> Awaitable[None]:
        """Move `order` on by `payload` now (its event is stamped now), unless an earlier
        attempt already sent its status (then only its details change); the awaitable
        returned writes that (and publishes the event), whenever it is awaited."""
        status = payload.status
        if order.status is status or _sent_before(order.status, status):
            order.attempt = attempt
            if isinstance(payload, Submitted):  # the new transaction's signature, before sending
                order.note_submission(payload)
                return self._store.save_details(order)
            return _nothing()
        return self._emit(order, order.apply(payload, ts_ms=self._clock.now_ms(), attempt=attempt))

    async def _confirm(self, order: Order) -> None:
        await self._emit(order, order.confirm_fill(ts_ms=self._clock.now_ms()))

    async def _emit(self, order: Order, event: OrderEvent) -> None:
        await self._store.append(order, event)
        await publish_best_effort(self._bus, event)


async def _nothing() -> None:
    return None


_ORDER = (S.PENDING, S.WAITING, S.ROUTING, S.BUILDING, S.SUBMITTED)


def _sent_before(current: OrderStatus, wanted: OrderStatus) -> bool:
    return current in _ORDER and wanted in _ORDER and _ORDER.index(current) > _ORDER.index(wanted)
