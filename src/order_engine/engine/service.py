"""`OrderService`: the use cases behind the API (submit, get, list, cancel, stream, quote)."""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from decimal import Decimal

from order_engine.domain.accounts import Principal
from order_engine.domain.errors import (
    CapacityError,
    ConcurrentUpdateError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    NotCancellableError,
    OrderNotFoundError,
    RequestError,
)
from order_engine.domain.event_payloads import Actor, Cancelled
from order_engine.domain.impact import DEFAULT_MAX_PRICE_IMPACT_CAP_BPS, check_max_impact_field
from order_engine.domain.limits import DEFAULT_TIME_IN_FORCE_S, MAX_TIME_IN_FORCE_S, expiry_ms
from order_engine.domain.orders import CANCELLABLE, Order, OrderEvent, OrderStatus
from order_engine.domain.quotes import RoutingDecision
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.account_limits import AccountLimiter, admission
from order_engine.engine.order_stream import order_stream
from order_engine.engine.paths import Router, TwoHopPolicy
from order_engine.engine.ports import Clock, EventBus, JobQueue, OrderStore, Page
from order_engine.engine.requests import OrderRequest, validate_pair
from order_engine.engine.routing import SplitPolicy
from order_engine.engine.stream_watch import StreamWatch
from order_engine.venues.base import Venue

log = logging.getLogger(__name__)
MAX_PAGE = 200
STREAM_IDLE_CHECK_S = 2.0  # how often the open streams are checked against the store


async def publish_best_effort(bus: EventBus, event: OrderEvent) -> None:
    """Publish after the commit. The store is the record and streams re-read it, so a lost
    publish (the bus is down) delays a live event, it never loses one: log, do not fail."""
    try:
        await bus.publish(event)
    except DependencyUnavailableError as exc:
        log.warning("event %s#%d not published: %s", event.order_id, event.seq, exc.message)


def parse_order_id(raw: str | None, *, field: str = "orderId") -> str:
    """Canonical lower-case UUID text, or `RequestError` naming the field."""
    if not raw:
        raise RequestError(f"{field} is required", field=field)
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError) as exc:
        raise RequestError(f"{field} must be a UUID", field=field) from exc


class OrderService:
    def __init__(
        self,
        store: OrderStore,
        queue: JobQueue,
        bus: EventBus,
        venues: Sequence[Venue],
        clock: Clock,
        *,
        tokens: TokenRegistry,
        max_queue_depth: int,
        quote_timeout_s: float,
        split_policy: SplitPolicy | None = None,
        two_hop_policy: TwoHopPolicy | None = None,
        max_time_in_force_s: int = MAX_TIME_IN_FORCE_S,
        new_id: Callable[[], str] | None = None,
        stream_idle_check_s: float = STREAM_IDLE_CHECK_S,
        max_price_impact_cap_bps: int = DEFAULT_MAX_PRICE_IMPACT_CAP_BPS,
        account_limits: AccountLimiter | None = None,
    ) -> None:
        self._store, self._queue, self._bus = store, queue, bus
        self._venues, self._clock, self._tokens = venues, clock, tokens
        self._max_depth = max_queue_depth
        self._router = Router(venues, tokens, quote_timeout_s, split_policy, two_hop_policy)
        self._max_time_in_force_s = max_time_in_force_s
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._admitting = 0
        self._watch = StreamWatch(store, stream_idle_check_s)
        self._impact_cap_bps = max_price_impact_cap_bps
        self._limits = account_limits

    @property
    def tokens(self) -> TokenRegistry:
        """The tokens this engine knows (built-in and launched)."""
        return self._tokens

    async def _publish(self, event: OrderEvent) -> None:
        await publish_best_effort(self._bus, event)

    async def submit(
        self, request: OrderRequest, idempotency_key: str | None = None, *,
        by: Principal | None = None,
    ) -> tuple[Order, bool]:  # fmt: skip
        """Accept an order for `by`'s account: validate, persist with its `pending` event
        (naming `by`), queue, publish. Returns the order and whether it was created (False:
        an idempotent replay; keys are per account). An order with an owner is held to its
        account's limits (`AccountLimiter`); a replay is answered before them."""
        token_in, token_out = request.tokens(self._tokens)
        if by is not None and idempotency_key is not None:
            idempotency_key = f"{by.account_id}:{idempotency_key}"
        request.check_type_fields([v.name for v in self._venues])
        check_max_impact_field(request.max_price_impact_bps, self._impact_cap_bps)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request.fingerprint()
            existing = await self._replay(idempotency_key, fingerprint)
            if existing is not None:
                return existing, False
        async with admission(self._limits, by, token_in, request.amount_in) as admitted:
            if await self._queue.depth() + self._admitting >= self._max_depth:
                raise CapacityError("the order queue is full; retry later", retry_after_s=1)
            self._admitting += 1  # holds a slot between the depth check and the enqueue
            try:
                order, admitted.created = await self._admit(
                    request, idempotency_key, fingerprint, (token_in, token_out), by
                )
                return order, admitted.created
            finally:
                self._admitting -= 1

    async def _admit(
        self,
        request: OrderRequest,
        idempotency_key: str | None,
        fingerprint: str | None,
        pair: tuple[str, str],
        by: Principal | None,
    ) -> tuple[Order, bool]:
        token_in, token_out = pair
        order = Order(
            id=self._new_id(),
            token_in=token_in,
            token_out=token_out,
            amount_in=request.amount_in,
            slippage_bps=request.slippage_bps,
            created_ms=self._clock.now_ms(),
            type=request.type,
            client_order_id=request.client_order_id,
            user_id=request.user_id,
            account_id=None if by is None else by.account_id,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            max_price_impact_bps=request.max_price_impact_bps,
        )
        if request.type.waits:
            order.limit_price, order.max_price = request.limit_price, request.max_price
            order.venue = request.waits_for_venue
            order.expires_ms = expiry_ms(
                order.created_ms,
                time_in_force_s=request.time_in_force_s,
                expires_at_ms=request.expires_at_ms,
                default_s=min(DEFAULT_TIME_IN_FORCE_S, self._max_time_in_force_s),
                max_s=self._max_time_in_force_s,
            )
        event = order.start(actor_of(by))
        try:
            await self._store.create(order, event)
        except IdempotencyConflictError:
            assert idempotency_key is not None and fingerprint is not None
            existing = await self._replay(idempotency_key, fingerprint)
            if existing is None:  # pragma: no cover - the key was taken a moment ago
                raise
            return existing, False
        try:  # the depth was checked above; the job carries the order to its first run
            await self._queue.enqueue(order.id, new=True, order=order)
        except CapacityError:  # lost a race for the last slot: the order is durable
            log.warning(
                "queue full after order %s was stored; the recovery sweep queues it", order.id
            )
        except DependencyUnavailableError:
            await self._undo_create(order.id)
            raise
        await self._publish(event)
        return order, True

    async def _undo_create(self, order_id: str) -> None:
        """The queue failed after the row was stored: remove the row, so a refused order
        leaves nothing behind (no row without its job). If the recovery sweep already
        picked the order up, it stays (and runs); if the store is down too, the sweep is
        the last resort."""
        try:
            discarded = await self._store.discard(order_id)
        except DependencyUnavailableError:
            log.error("order %s stored but not queued, and not removable now", order_id)
            return
        if not discarded:
            log.warning("order %s was picked up by the recovery sweep; it stays", order_id)

    async def _replay(self, key: str, fingerprint: str) -> Order | None:
        existing = await self._store.find_by_idempotency_key(key)
        if existing is not None and existing.request_fingerprint != fingerprint:
            raise IdempotencyConflictError(
                "Idempotency-Key was already used with a different request body",
                field="Idempotency-Key",
            )
        return existing

    async def get(self, order_id: str, viewer: Principal | None = None) -> Order:
        """The order, if `viewer` may see it (its own account's, or an admin's); another
        account's order is not found, as an unknown one is."""
        order = await self._store.get(parse_order_id(order_id))
        if viewer is not None and not viewer.may_see(order.account_id):
            raise OrderNotFoundError(f"order {order_id} not found")
        return order

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise RequestError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        return await self._store.list(
            status=status, limit=limit, cursor=cursor, user_id=user_id, account_id=account_id
        )

    async def events(
        self, order_id: str, after: int = 0, viewer: Principal | None = None
    ) -> builtins.list[OrderEvent]:
        order = await self.get(order_id, viewer)
        return await self._store.events(order.id, after)

    async def cancel(self, order_id: str, by: Principal | None = None) -> Order:
        """Cancel an order of `by`'s (or, for an admin, anyone's) that has not been
        submitted yet (optimistic, retried on races); the event names `by`."""
        order_id = parse_order_id(order_id)
        for _ in range(5):
            order = await self.get(order_id, by)
            if order.status not in CANCELLABLE:
                raise NotCancellableError(
                    f"order {order_id} is {order.status}; only orders not yet submitted "
                    "can be cancelled"
                )
            event = order.apply(Cancelled(actor=actor_of(by)), ts_ms=self._clock.now_ms())
            try:
                await self._store.append(order, event)
            except ConcurrentUpdateError:
                continue
            await self._publish(event)
            return order
        raise ConcurrentUpdateError(f"order {order_id} kept changing; retry the cancel")

    def stream(self, order_id: str, after: int = 0) -> AsyncGenerator[OrderEvent, None]:
        """Every event with seq > `after`: stored ones first, then live ones, with no gap
        and no duplicate; ends after the terminal event (see `order_stream`)."""
        return order_stream(self._store, self._bus, parse_order_id(order_id), after, self._watch)

    @property
    def stream_watch(self) -> StreamWatch:
        """The watchdog of this process's open streams (one store read per period for all
        of them: it finds the streams a lost publish left behind)."""
        return self._watch

    async def quote(self, token_in: str, token_out: str, amount_in: Decimal) -> RoutingDecision:
        t_in, t_out = validate_pair(self._tokens, token_in, token_out, amount_in)
        return await self._router.route(t_in, t_out, amount_in)

    async def recover(self) -> int:
        """Put every accepted, unfinished order back on the queue (ids dedupe)."""
        count = 0
        for order_id in await self._store.unfinished():
            if await self._queue.enqueue(order_id):
                count += 1
        if count:
            log.info("recovered %d unfinished orders onto the queue", count)
        return count


def actor_of(principal: Principal | None) -> Actor | None:
    """The audit trail's name for who made a change (None: no account, e.g. open mode
    before accounts existed)."""
    return None if principal is None else Actor(principal.account_id, principal.key_id)
