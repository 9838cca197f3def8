"""`OrderExecutor`: one job delivery = one attempt at quote → route → build → submit →
confirm. A retry never re-sends a status already sent and never executes a swap twice:
the transaction signature is persisted before it is sent, and a later attempt first asks
the venue whether that transaction landed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from order_engine.domain.errors import (
    ConcurrentUpdateError,
    ExecutionError,
    OrderNotFoundError,
    PermanentExecutionError,
)
from order_engine.domain.orders import Execution, Order, OrderError, OrderEvent, OrderStatus
from order_engine.domain.quotes import minimum_out
from order_engine.domain.tokens import find_token
from order_engine.engine.ports import Clock, EventBus, Job, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.routing import quote_all
from order_engine.engine.service import publish_best_effort
from order_engine.venues.base import TxState, Venue

log = logging.getLogger(__name__)
S = OrderStatus


class OrderExecutor:
    def __init__(
        self,
        store: OrderStore,
        bus: EventBus,
        venues: Sequence[Venue],
        clock: Clock,
        policy: RetryPolicy,
        *,
        quote_timeout_s: float,
    ) -> None:
        self._store, self._bus, self._clock, self._policy = store, bus, clock, policy
        self._venues = {v.name: v for v in venues}
        self._quote_timeout_s = quote_timeout_s

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
        if order.is_terminal or order.status is S.SUBMITTED:
            return  # a sent transaction may still land: the recovery sweep asks the venue
        now = self._clock.now_ms()
        error = OrderError("internal_error", "the engine hit an unexpected error", attempt, now)
        order.record_attempt_error(error)
        await self._emit(order, order.fail(error, ts_ms=now))

    async def _exhausted(self, order: Order, attempt: int) -> None:
        """A recovered order that already used every attempt: settle it, never retry."""
        if order.status is S.SUBMITTED and await self._resume_previous(order, attempt):
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
        if order.status is S.SUBMITTED and await self._settled_anyway(order, attempt):
            return
        final = error
        if not isinstance(exc, PermanentExecutionError):
            final = OrderError(exc.code, f"{exc.message} (after {attempt} attempts)", attempt, now)
        await self._emit(order, order.fail(final, ts_ms=now))

    async def _settled_anyway(self, order: Order, attempt: int) -> bool:
        """Before failing a submitted order, make sure its last transaction did not land."""
        try:
            return await self._resume_previous(order, attempt)
        except ExecutionError:
            return False

    async def _attempt(self, order: Order, attempt: int) -> None:
        if order.status is S.SUBMITTED and await self._resume_previous(order, attempt):
            return
        await self._advance(order, S.ROUTING, attempt)
        t_in = find_token(order.token_in, field="tokenIn")
        t_out = find_token(order.token_out, field="tokenOut")
        venues = list(self._venues.values())
        decision = await quote_all(venues, t_in, t_out, order.amount_in, self._quote_timeout_s)
        quote = decision.best
        # slippage is measured from this attempt's (fresh) quote; the confirmed event
        # carries the minimum of the transaction that executed
        min_out = minimum_out(quote.amount_out, order.slippage_bps, t_out.decimals)
        order.min_amount_out = min_out
        venue = self._venues[quote.venue]
        await self._advance(
            order, S.BUILDING, attempt, {**decision.as_dict(), "minAmountOut": str(min_out)}
        )
        tx = await venue.build(
            quote, token_in=t_in, token_out=t_out, min_amount_out=min_out, order_id=order.id
        )
        order.dex, order.tx_hash = venue.name, tx.signature
        submitted = {"txHash": tx.signature, "dex": venue.name, "minAmountOut": str(min_out)}
        # persisted before sending: a write-ahead record of the signature
        await self._advance(order, S.SUBMITTED, attempt, {**submitted, "steps": list(tx.steps)})
        await venue.submit(tx)
        await self._confirm(order, await venue.confirm(tx.signature))

    async def _resume_previous(self, order: Order, attempt: int) -> bool:
        """Ask the venue about the last attempt's transaction; True if that settled it."""
        venue = self._venues.get(order.dex or "")
        if venue is None or order.tx_hash is None:
            return False
        status = await venue.status(order.tx_hash)
        order.attempt = attempt
        if status.state is TxState.PENDING:
            await self._confirm(order, await venue.confirm(order.tx_hash))
            return True
        if status.state is TxState.LANDED and status.execution is not None:
            log.info(
                "order %s: transaction %s of an earlier attempt landed; not re-sending",
                order.id,
                order.tx_hash,
            )
            await self._confirm(order, status.execution)
            return True
        return False

    async def _advance(
        self, order: Order, status: OrderStatus, attempt: int, data: dict[str, Any] | None = None
    ) -> None:
        """Emit `status` unless an earlier attempt already did; then only save details."""
        if order.status is status or _sent_before(order.status, status):
            order.attempt = attempt
            if status is S.SUBMITTED:  # the new transaction's signature, before sending
                await self._store.save_details(order)
            return
        await self._emit(
            order, order.apply(status, ts_ms=self._clock.now_ms(), attempt=attempt, data=data)
        )

    async def _confirm(self, order: Order, execution: Execution) -> None:
        await self._emit(order, order.confirm(execution, ts_ms=self._clock.now_ms()))

    async def _emit(self, order: Order, event: OrderEvent) -> None:
        await self._store.append(order, event)
        await publish_best_effort(self._bus, event)


_ORDER = (S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED)


def _sent_before(current: OrderStatus, wanted: OrderStatus) -> bool:
    return current in _ORDER and wanted in _ORDER and _ORDER.index(current) > _ORDER.index(wanted)
