"""Limit orders: wait for the price, re-checked per pair on the queue's delayed jobs.

A limit order's first job checks it at once: it moves `pending → waiting` (the event carries
the limit, the best price now and the expiry) and, if the route already pays the limit,
goes on to execute. Otherwise the order waits in the store, and its pair gets a watch job
on the watch queue (job id `watch:TOKEN_IN:TOKEN_OUT`, so one per pair). Every
`check_interval_s` the watch job fetches every venue's pool state once and prices each
waiting order of the pair on it (shared re-quotes: a thousand waiting orders cost one round
trip per venue), expires the ones whose time ran out and puts the ones whose limit is met
on the order queue, oldest first; the order's own job then routes afresh and executes only
if its fresh route still pays the limit. No task sleeps per order; the jobs live in the
queue and the orders in the store, so a restart of any process resumes them (the recovery
sweep re-creates the watch job of every pair with waiting orders).

Races are settled by the store's optimistic lock: firing (`waiting → routing`), expiring and
cancelling are each one conditional write, so exactly one of them wins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from order_engine.domain.errors import (
    CapacityError,
    ConcurrentUpdateError,
    TransientExecutionError,
)
from order_engine.domain.limits import meets_limit, price_of
from order_engine.domain.orders import Order, OrderStatus
from order_engine.domain.quotes import RoutingDecision
from order_engine.domain.tokens import Token, find_token
from order_engine.engine.ports import Clock, EventBus, Job, JobQueue, OrderStore
from order_engine.engine.routing import SplitPolicy, fetch_curves, plan_route, route
from order_engine.engine.service import publish_best_effort
from order_engine.venues.base import PriceCurve, Venue

log = logging.getLogger(__name__)
S = OrderStatus
WATCH_PREFIX = "watch:"


def watch_key(token_in: str, token_out: str) -> str:
    return f"{WATCH_PREFIX}{token_in}:{token_out}"


def pair_of(key: str) -> tuple[str, str]:
    token_in, token_out = key.removeprefix(WATCH_PREFIX).split(":", 1)
    return token_in, token_out


class LimitOrders:
    def __init__(
        self,
        store: OrderStore,
        queue: JobQueue,
        watch_queue: JobQueue,
        bus: EventBus,
        venues: Sequence[Venue],
        clock: Clock,
        *,
        check_interval_s: float,
        quote_timeout_s: float,
        split_policy: SplitPolicy | None = None,
    ) -> None:
        self._store, self._queue, self._watch_queue = store, queue, watch_queue
        self._bus, self._venues, self._clock = bus, list(venues), clock
        self._interval = check_interval_s
        self._quote_timeout_s = quote_timeout_s
        self._split = split_policy or SplitPolicy()

    async def check(self, order: Order) -> RoutingDecision | None:
        """An order's own check (its job): expire it, or record the price and either return
        the route that pays its limit or leave it waiting on its pair's watch job."""
        now = self._clock.now_ms()
        if order.expires_ms is not None and now >= order.expires_ms:
            await self.expire(order)
            return None
        t_in = find_token(order.token_in, field="tokenIn")
        t_out = find_token(order.token_out, field="tokenOut")
        try:
            decision: RoutingDecision | None = await route(
                self._venues, t_in, t_out, order.amount_in, self._quote_timeout_s, self._split
            )
        except TransientExecutionError as exc:  # no quote now: the watch job tries again
            log.info("limit order %s: no price now (%s)", order.id, exc.message)
            decision = None
        if decision is not None:
            order.best_price, order.checked_ms = price_of(decision.amount_out, order.amount_in), now
        await self._record_check(order)
        if decision is not None and self._pays(order, decision, t_out.decimals):
            return decision
        await self.watch(order.token_in, order.token_out)
        return None

    async def _record_check(self, order: Order) -> None:
        if order.status is S.PENDING:
            event = order.apply(S.WAITING, ts_ms=self._clock.now_ms(), data=self._waiting(order))
            await self._store.append(order, event)
            await publish_best_effort(self._bus, event)
        else:
            await self._store.save_details(order)

    def _waiting(self, order: Order) -> dict[str, Any]:
        return {
            "limitPrice": str(order.limit_price),
            "bestPrice": None if order.best_price is None else str(order.best_price),
            "expiresAtMs": order.expires_ms,
            "checkEveryS": self._interval,
        }

    @staticmethod
    def _pays(order: Order, decision: RoutingDecision, decimals: int) -> bool:
        assert order.limit_price is not None
        return meets_limit(decision.amount_out, order.amount_in, order.limit_price, decimals)

    async def watch(self, token_in: str, token_out: str, *, now: bool = False) -> None:
        """Make sure the pair has a watch job (a no-op when it already has one)."""
        delay = 0.0 if now else self._interval
        await self._watch_queue.enqueue(watch_key(token_in, token_out), delay_s=delay)

    async def recover(self) -> int:
        """Watch every pair some order waits on (after a restart, or if Redis lost the
        watch jobs); a pair already watched is left as it is."""
        pairs = await self._store.waiting_pairs()
        for token_in, token_out in pairs:
            await self.watch(token_in, token_out, now=True)
        return len(pairs)

    async def expire(self, order: Order) -> bool:
        """`waiting`/`pending` → `expired`; False if something else moved it first."""
        event = order.apply(
            S.EXPIRED,
            ts_ms=self._clock.now_ms(),
            data={"reason": "the time in force ran out", "expiresAtMs": order.expires_ms},
        )
        try:
            await self._store.append(order, event)
        except ConcurrentUpdateError:
            return False
        await publish_best_effort(self._bus, event)
        return True

    async def handle_watch(self, job: Job) -> float | None:
        """One round for a pair: expire, fire, and come back in `check_interval_s` while
        orders still wait."""
        token_in, token_out = pair_of(job.order_id)
        waiting = await self._store.waiting(token_in, token_out)
        if not waiting:
            return None
        t_in = find_token(token_in, field="tokenIn")
        t_out = find_token(token_out, field="tokenOut")
        try:
            curves, failures = await fetch_curves(self._venues, t_in, t_out, self._quote_timeout_s)
        except TransientExecutionError:
            curves, failures = [], {}
        now = self._clock.now_ms()
        for order in waiting:
            if order.expires_ms is not None and now >= order.expires_ms:
                await self.expire(order)
            elif curves and self._round_pays(order, curves, failures, t_in, t_out.decimals):
                await self._fire(order)
        return self._interval

    def _round_pays(
        self,
        order: Order,
        curves: list[PriceCurve],
        failures: dict[str, str],
        t_in: Token,
        decimals: int,
    ) -> bool:
        try:
            decision = plan_route(curves, failures, t_in, order.amount_in, self._split)
        except TransientExecutionError:
            return False
        return self._pays(order, decision, decimals)

    async def _fire(self, order: Order) -> None:
        try:
            await self._queue.enqueue(order.id)
        except CapacityError:
            log.warning("limit order %s: the order queue is full; next round", order.id)
        else:
            log.info("limit order %s: the price reaches %s; executing", order.id, order.limit_price)
