"""Orders that wait: limit orders (for their price) and sniper orders (for a token's pool to
open), re-checked per pair on the queue's delayed jobs; snipers are also woken at once by
the launch itself.

A limit order's first job checks it at once: it moves `pending → waiting` (the event carries
the limit, the best price now and the expiry) and, if the route already pays the limit,
goes on to execute. Otherwise the order waits in the store, and its pair gets a watch job
on the watch queue (job id `watch:TOKEN_IN:TOKEN_OUT`, so one per pair). Every
`check_interval_s` the watch job fetches every venue's pool state once and prices each
waiting order of the pair on it (shared re-quotes: a thousand waiting orders cost one round
trip per venue), expires the ones whose time ran out and puts the ones whose limit is met
on the order queue, oldest first, handing its job the route the round priced (in this
process: a job run by another worker, or whose quotes expired meanwhile, routes afresh); the
job executes only if that route still pays the limit. No task sleeps per order; the jobs live in the
queue and the orders in the store, so a restart of any process resumes them (the recovery
sweep re-creates the watch job of every pair with waiting orders).

A sniper order waits for `tokenOut`'s pool on its venue (or any venue): when a launch opens
one, `on_launch` puts the sniper orders waiting for its token on the order queue in the same
event-loop turn, in submission order; its own job then routes on its venue(s) and executes
if the price is within its cap (through SOL or USDC when no pool trades its pair directly,
e.g. it pays USDC and the token launched against SOL), or fails at once with `no_route`
when no path exists on its venue(s): no order waits for a pool that will not come. The watch
job is the fallback that also expires them.

A fired order whose price moved away before it executed (its fresh route no longer pays, or
its swap reverted on its minimum) goes back to `waiting` (`wait_again`), once every leg it
sent is settled and if nothing filled; that is not an attempt.

Races are settled by the store's optimistic lock: firing (`waiting → routing`), expiring and
cancelling are each one conditional write, so exactly one of them wins.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress

from order_engine.domain.errors import (
    CapacityError,
    ConcurrentUpdateError,
    ExecutionError,
    TransientExecutionError,
    UnknownTokenError,
)
from order_engine.domain.event_payloads import Expired, LimitTerms, SniperTerms, Waiting
from order_engine.domain.launches import Launch
from order_engine.domain.limits import price_of, price_ok
from order_engine.domain.orders import Order, OrderStatus, OrderType
from order_engine.domain.quotes import RoutingDecision
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.paths import Paths, Router, TwoHopPolicy
from order_engine.engine.ports import Clock, EventBus, Job, JobQueue, OrderStore
from order_engine.engine.routing import SplitPolicy
from order_engine.engine.service import publish_best_effort
from order_engine.venues.base import Venue

log = logging.getLogger(__name__)
S = OrderStatus
WATCH_PREFIX = "watch:"
PROGRESS_EVERY_S = 30.0  # a waiting order's bestPrice on GET is at most this old
PAGE_SIZE = 1000  # waiting orders read from the store at a time (a round reads every page)
MAX_FIRED = 10_000  # routes handed from rounds to fired jobs kept at most (oldest dropped)


def watch_key(token_in: str, token_out: str) -> str:
    return f"{WATCH_PREFIX}{token_in}:{token_out}"


def venues_for(venues: list[Venue], order: Order) -> list[Venue]:
    """Every venue, or only the one a sniper order waits for."""
    if order.venue is None:
        return venues
    return [v for v in venues if v.name == order.venue]


def pair_of(key: str) -> tuple[str, str]:
    token_in, token_out = key.removeprefix(WATCH_PREFIX).split(":", 1)
    return token_in, token_out


class WaitingOrders:
    def __init__(
        self,
        store: OrderStore,
        queue: JobQueue,
        watch_queue: JobQueue,
        bus: EventBus,
        venues: Sequence[Venue],
        clock: Clock,
        *,
        tokens: TokenRegistry,
        check_interval_s: float,
        quote_timeout_s: float,
        split_policy: SplitPolicy | None = None,
        two_hop_policy: TwoHopPolicy | None = None,
        progress_every_s: float = PROGRESS_EVERY_S,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._page_size = page_size
        self._store, self._queue, self._watch_queue = store, queue, watch_queue
        self._progress_ms = round(progress_every_s * 1000)
        self._bus, self._venues, self._clock = bus, list(venues), clock
        self._tokens = tokens
        self._interval = check_interval_s
        self._router = Router(venues, tokens, quote_timeout_s, split_policy, two_hop_policy)
        # the route a watch round fired an order on, for its job (this process's only)
        self._fired: dict[str, RoutingDecision] = {}

    async def check(self, order: Order) -> RoutingDecision | None:
        """An order's own check (its job): expire it, or record the price and either return
        the route that meets its price or leave it waiting on its pair's watch job."""
        now = self._clock.now_ms()
        if order.expired(now):
            await self.expire(order)
            return None
        decision = self._fired.pop(order.id, None)
        if decision is None or any(q.expired(now) for q in decision.hops):
            decision = await self._route_now(order)  # not fired by a round here, or stale
        if decision is not None:
            order.best_price, order.checked_ms = price_of(decision.amount_out, order.amount_in), now
        await self._record_check(order)
        if decision is not None and self._ready(order, decision):
            return decision
        await self.watch(order.token_in, order.token_out)
        return None

    async def _route_now(self, order: Order) -> RoutingDecision | None:
        """The route for the whole order now, or None when there is none yet (no quote, or a
        sniper's token not launched yet). Once its token trades, a sniper whose pair no pool
        (on its venue) trades fails at once (`NoRouteError`), never waits for nothing."""
        try:
            t_in = self._tokens.find(order.token_in, field="tokenIn")
            t_out = self._tokens.find(order.token_out, field="tokenOut")
            return await self._router.route(
                t_in, t_out, order.amount_in, venues_for(self._venues, order)
            )
        except UnknownTokenError as exc:
            if order.type is not OrderType.SNIPER:
                raise
            log.debug("sniper order %s: not launched yet (%s)", order.id, exc.message)
        except TransientExecutionError as exc:  # no quote now: the watch job tries again
            log.info("order %s: no price now (%s)", order.id, exc.message)
        return None

    async def _record_check(self, order: Order) -> None:
        if order.status is S.PENDING:
            event = order.apply(self._waiting(order), ts_ms=self._clock.now_ms())
            await self._store.append(order, event)
            await publish_best_effort(self._bus, event)
        else:
            await self._store.save_details(order)

    def _waiting(self, order: Order, reason: str | None = None) -> Waiting:
        terms: LimitTerms | SniperTerms = (
            LimitTerms(order.limit_price)
            if order.type is OrderType.LIMIT
            else SniperTerms(order.token_out, order.venue, order.max_price)
        )
        return Waiting(order.best_price, order.expires_ms, self._interval, terms, reason)

    async def wait_again(self, order: Order, reason: str) -> None:
        """A fired order whose price moved away before it executed: back to `waiting`, on
        its pair's watch job, until its price is met again or it expires."""
        waiting = self._waiting(order, f"the price moved away: {reason}")
        event = order.apply(waiting, ts_ms=self._clock.now_ms())
        await self._store.append(order, event)
        await publish_best_effort(self._bus, event)
        log.info("%s order %s: the price moved away; waiting again", order.type, order.id)
        await self.watch(order.token_in, order.token_out)

    def _ready(self, order: Order, decision: RoutingDecision) -> bool:
        decimals = self._tokens.find(order.token_out, field="tokenOut").decimals
        return price_ok(order, decision.amount_out, order.amount_in, decimals)

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
        event = order.apply(Expired(order.expires_ms), ts_ms=self._clock.now_ms())
        try:
            await self._store.append(order, event)
        except ConcurrentUpdateError:
            return False
        await publish_best_effort(self._bus, event)
        return True

    async def handle_watch(self, job: Job) -> float | None:
        """One round for a pair: expire, fire, and come back in `check_interval_s` while
        orders still wait. Every waiting order of the pair is priced, page by page, on the
        pool states fetched once for the round."""
        token_in, token_out = pair_of(job.order_id)
        market: tuple[Paths | None, int] | None = None
        async for page in self._pages(token_in, token_out):
            if market is None:  # fetched once, when some order waits
                market = (await self._paths(token_in, token_out), self._clock.now_ms())
            for order in page:
                await self._check_in_round(order, *market)
        return None if market is None else self._interval

    async def _pages(self, token_in: str, token_out: str) -> AsyncIterator[list[Order]]:
        """The pair's waiting orders, oldest first, a page at a time (keyset paging)."""
        after: tuple[int, str] | None = None
        while page := await self._store.waiting(token_in, token_out, self._page_size, after):
            yield page
            if len(page) < self._page_size:
                return
            after = (page[-1].created_ms, page[-1].id)

    async def _check_in_round(self, order: Order, paths: Paths | None, now: int) -> None:
        if order.expired(now):
            await self.expire(order)
            return
        decision = self._round_route(order, paths)
        if decision is not None and self._ready(order, decision):
            if len(self._fired) >= MAX_FIRED:
                self._fired.pop(next(iter(self._fired)))  # the oldest: its job fetches again
            self._fired[order.id] = decision
            await self._fire(order)
        elif decision is not None:
            await self._record_progress(order, decision, now)

    async def _record_progress(self, order: Order, decision: RoutingDecision, now: int) -> None:
        """Keep `bestPrice`/`checkedAt` of a waiting order fresh, at most once per
        `progress_every_s` (one write per order per that, however often the pair is checked)."""
        if order.checked_ms is not None and now - order.checked_ms < self._progress_ms:
            return
        order.best_price, order.checked_ms = price_of(decision.amount_out, order.amount_in), now
        with suppress(ConcurrentUpdateError):  # it moved on meanwhile: nothing to record
            await self._store.save_details(order)

    async def _paths(self, token_in: str, token_out: str) -> Paths | None:
        """Every venue's pools for the pair (direct and through SOL or USDC), fetched once
        for the round (None: no pool trades it yet)."""
        try:
            t_in = self._tokens.find(token_in, field="tokenIn")
            t_out = self._tokens.find(token_out, field="tokenOut")
            return await self._router.paths(t_in, t_out)
        except (UnknownTokenError, ExecutionError):
            return None

    def _round_route(self, order: Order, paths: Paths | None) -> RoutingDecision | None:
        """The order's route on this round's pools (its venue's, for a sniper), if any."""
        if paths is None or paths.only(order.venue).empty:
            return None
        try:
            return self._router.plan(paths, order.amount_in, venue=order.venue)
        except ExecutionError:
            return None

    async def on_launch(self, launch: Launch) -> int:
        """A pool opened: put the sniper orders waiting for its token on the order queue
        now, in submission order (each job routes: one its pool cannot serve, e.g. another
        venue's or another pair's, fails with `no_route`). Returns how many."""
        ready: list[Order] = []
        for token_in, token_out in await self._store.waiting_pairs():
            if token_out != launch.symbol:
                continue
            async for page in self._pages(token_in, token_out):
                ready += [o for o in page if o.type is OrderType.SNIPER]
        ready.sort(key=lambda o: (o.created_ms, o.id))
        for order in ready:
            await self._fire(order)
        return len(ready)

    async def _fire(self, order: Order) -> None:
        try:
            await self._queue.enqueue(order.id)
        except CapacityError:
            self._fired.pop(order.id, None)
            log.warning("order %s: the order queue is full; next round", order.id)
        else:
            log.info("%s order %s: ready; executing", order.type, order.id)
