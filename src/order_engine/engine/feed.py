"""The live feed of the orders a caller may see: every event of its account's orders (an
admin's: every order's), from the bus's feed of all events, each with the order's summary
(what never changes: type, pair, amount, owner), so a dashboard draws a row from one
message. The owner of each order comes from the store once per process, then from a small
cache (an order never changes hands)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.accounts import Principal
from order_engine.domain.errors import OrderNotFoundError
from order_engine.domain.orders import Order, OrderEvent
from order_engine.engine.ports import EventBus, FeedSubscription, OrderStore

DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """What a feed message says of its order: the fields that never change."""

    order_id: str
    account_id: str | None
    type: str
    token_in: str
    token_out: str
    amount_in: Decimal
    created_ms: int
    user_id: str | None
    client_order_id: str | None

    @classmethod
    def of(cls, order: Order) -> OrderSummary:
        return cls(
            order.id,
            order.account_id,
            order.type.value,
            order.token_in,
            order.token_out,
            order.amount_in,
            order.created_ms,
            order.user_id,
            order.client_order_id,
        )


@dataclass(frozen=True, slots=True)
class FeedItem:
    id: str  # the feed's id: resume after it
    event: OrderEvent
    order: OrderSummary


class FeedView:
    """One caller's feed: the items it may see, in order. `gap`: the feed's history no
    longer reached back to where the caller resumed, so it missed events (re-read the
    orders)."""

    def __init__(self, feed: OrderFeed, entries: FeedSubscription, viewer: Principal | None):
        self._feed, self._entries, self._viewer = feed, entries, viewer

    @property
    def gap(self) -> bool:
        return self._entries.gap

    async def __aiter__(self) -> AsyncIterator[FeedItem]:
        async for entry in self._entries:
            summary = await self._feed.summary(entry.event.order_id)
            if summary is None:
                continue  # an order the store does not have (discarded at submit)
            if self._viewer is None or self._viewer.may_see(summary.account_id):
                yield FeedItem(entry.id, entry.event, summary)


class OrderFeed:
    def __init__(
        self, store: OrderStore, bus: EventBus, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self._store, self._bus = store, bus
        self._cache: OrderedDict[str, OrderSummary] = OrderedDict()
        self._cache_size = cache_size
        self._loading: dict[str, asyncio.Future[OrderSummary | None]] = {}

    @asynccontextmanager
    async def follow(
        self, viewer: Principal | None, after: str | None = None
    ) -> AsyncIterator[FeedView]:
        """The events of the orders `viewer` may see (None: every order), from now on or
        after feed id `after` (ValueError when malformed; see `EventBus.subscribe_all`)."""
        async with self._bus.subscribe_all(after) as entries:
            yield FeedView(self, entries, viewer)

    async def summary(self, order_id: str) -> OrderSummary | None:
        """The order's summary (None: no such order); one store read per order, shared by
        every caller asking at once."""
        cached = self._cache.get(order_id)
        if cached is not None:
            self._cache.move_to_end(order_id)
            return cached
        loading = self._loading.get(order_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[OrderSummary | None] = asyncio.get_running_loop().create_future()
        self._loading[order_id] = future
        try:
            found = await self._load(order_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters (if any) re-raise it
            raise
        finally:
            del self._loading[order_id]
        future.set_result(found)
        return found

    async def _load(self, order_id: str) -> OrderSummary | None:
        try:
            found = OrderSummary.of(await self._store.get(order_id))
        except OrderNotFoundError:
            return None
        self._cache[order_id] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found
