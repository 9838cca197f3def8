"""Limits per account, checked when an account submits an order (the engine's global limits,
the queue's depth and the workers' rate, apply as well).

Each account's limits are its own overrides (`Account.limits`, carried by the `Principal`
its key authenticates as) over the engine's defaults (settings `ACCOUNT_*`; 0 or None =
no limit). In this order:

1. **Largest order** (`max_order_size`, USD): the order's value (see `usd_prices`) over it
   → `OrderTooLargeError` (422, field `amountIn`). An order whose value is unknown passes.
2. **Open orders** (`max_open_orders`): the account's orders not final (waiting limit and
   sniper orders included), counted by the store from an index, plus the account's submits
   this process is admitting → `TooManyOpenOrdersError` (429, `Retry-After` 5 s: open
   orders end when they execute, expire or are cancelled; nothing says when).
3. **Orders per minute** (`orders_per_minute`): a sliding window of the last 60 s of the
   account's accepted orders (`RateWindow`: shared in Redis, or this process's own) →
   `AccountRateLimitedError` (429, `Retry-After`: when the oldest of them leaves it).

Only created orders count: an idempotent replay is answered before these checks, and a
submit refused after them (the queue is full, a replay found late) gives its place in the
window back. One process never lets an account past its open orders: counts are read one
at a time per account, and the submits being admitted count too (until they answer, so
for that moment a created order counts twice: at the limit, a submit may be refused a few
ms early). Processes admitting one account's orders at the same moment may each let one
through at the limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.accounts import AccountLimits, Principal
from order_engine.domain.amounts import money
from order_engine.domain.errors import (
    AccountRateLimitedError,
    DependencyUnavailableError,
    OrderTooLargeError,
    TooManyOpenOrdersError,
)
from order_engine.domain.quotes import quantize
from order_engine.engine.account_ports import RateWindow
from order_engine.engine.ports import Clock, OrderStore
from order_engine.engine.usd_prices import UsdPrices

log = logging.getLogger(__name__)
RATE_WINDOW_MS = 60_000
OPEN_ORDERS_RETRY_AFTER_S = 5


@dataclass(slots=True)
class Admission:
    """Set `created` once the order is stored: otherwise its place in the rate window is
    given back when the admission ends."""

    created: bool = False


class AccountLimiter:
    def __init__(
        self,
        store: OrderStore,
        rates: RateWindow,
        clock: Clock,
        *,
        defaults: AccountLimits,
        prices: UsdPrices | None = None,
    ) -> None:
        self._store, self._rates, self._clock = store, rates, clock
        self._defaults, self._prices = defaults, prices
        self._admitting: Counter[str] = Counter()
        self._counting: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def limits_of(self, by: Principal) -> AccountLimits:
        """The limits that apply to `by`'s account: its overrides over the defaults."""
        return by.limits.over(self._defaults)

    @asynccontextmanager
    async def admit(
        self, by: Principal, token_in: str, amount_in: Decimal
    ) -> AsyncIterator[Admission]:
        """Check `by`'s limits for an order of `amount_in` `token_in` (raising the error of
        the first one it is over) and hold its places while the order is created."""
        limits, account = self.limits_of(by), by.account_id
        await self._check_size(limits.max_order_size, token_in, amount_in)
        await self._check_open(account, limits.max_open_orders)
        try:
            entry = await self._take_place(account, limits.orders_per_minute)
            admission = Admission()
            try:
                yield admission
            finally:
                if entry is not None and not admission.created:
                    await self._give_back(account, entry)
        finally:
            self._admitting[account] -= 1
            if self._admitting[account] <= 0:
                del self._admitting[account]

    async def _check_size(self, cap: Decimal | None, token_in: str, amount_in: Decimal) -> None:
        if cap is None or self._prices is None:
            return
        value = await self._prices.value(token_in, amount_in)
        if value is not None and value > cap:
            worth = money(quantize(value, 2))
            raise OrderTooLargeError(
                f"amountIn {money(amount_in)} {token_in} is worth about {worth} USD, over "
                f"this account's largest order (maxOrderUsd) of {money(cap)} USD",
                field="amountIn",
            )

    async def _check_open(self, account: str, cap: int | None) -> None:
        """Count, and hold a place among the open orders (`_admitting`) when under `cap`.
        One count at a time per account (no submit takes a place while another counts),
        and the submits being admitted are read before the count: one that is stored and
        done before the count answers is then counted once or twice, never missed."""
        lock = self._counting.get(account)
        if lock is None:
            lock = self._counting[account] = asyncio.Lock()
        async with lock:
            if cap is not None:
                admitting = self._admitting[account]
                open_now = await self._store.count_open(account) + admitting
                if open_now >= cap:
                    raise TooManyOpenOrdersError(
                        f"this account has {open_now} open orders, its limit "
                        f"(maxOpenOrders {cap}); retry when some have finished",
                        retry_after_s=OPEN_ORDERS_RETRY_AFTER_S,
                    )
            self._admitting[account] += 1

    async def _take_place(self, account: str, cap: int | None) -> str | None:
        if cap is None:
            return None
        entry = uuid.uuid4().hex
        wait_ms = await self._rates.acquire(
            account, entry, limit=cap, window_ms=RATE_WINDOW_MS, now_ms=self._clock.now_ms()
        )
        if wait_ms is None:
            return entry
        retry_after_s = max(1, math.ceil(wait_ms / 1000))
        raise AccountRateLimitedError(
            f"this account may submit {cap} orders per minute (ordersPerMinute); "
            f"retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    async def _give_back(self, account: str, entry: str) -> None:
        try:
            await self._rates.release(account, entry)
        except DependencyUnavailableError as exc:  # it leaves the window within a minute
            log.warning("a refused order's place in %s's rate window kept: %s", account, exc)


def admission(
    limiter: AccountLimiter | None, by: Principal | None, token_in: str, amount_in: Decimal
) -> AbstractAsyncContextManager[Admission]:
    """`limiter.admit(...)` for an order with an owner; a no-op admission otherwise."""
    if limiter is None or by is None:
        return nullcontext(Admission())
    return limiter.admit(by, token_in, amount_in)
