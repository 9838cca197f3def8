"""Limits per account at submit (`OrderService` with an `AccountLimiter`, in-memory
adapters): the largest order (USD), open orders and orders per minute, the settings'
defaults under each account's overrides, Retry-After values, and what does not count
(replays, refused submits, orders without an owner)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.rate_windows import InMemoryRateWindow
from order_engine.domain.accounts import AccountLimits, Principal, Scope
from order_engine.domain.errors import (
    AccountRateLimitedError,
    CapacityError,
    NoRouteError,
    OrderTooLargeError,
    TooManyOpenOrdersError,
)
from order_engine.domain.orders import Order, OrderEvent, OrderType
from order_engine.engine.account_limits import (
    OPEN_ORDERS_RETRY_AFTER_S,
    AccountLimiter,
)
from order_engine.engine.accounts import AccountAdmin
from order_engine.engine.auth import Authenticator
from order_engine.engine.paths import Router
from order_engine.engine.requests import OrderRequest
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from order_engine.engine.usd_prices import UsdPrices
from order_engine.settings import Settings
from tests.unit.fakes import Rig, ScriptedVenue

D = Decimal
T0 = 1_700_000_000_000
DEFAULTS = AccountLimits(max_open_orders=1000, orders_per_minute=1000, max_order_size=D(1000))


class Clock:
    """The time the test sets."""

    def __init__(self) -> None:
        self.ms = T0

    def now_ms(self) -> int:
        return self.ms


def alice(**limits: object) -> Principal:
    return Principal("acc-alice", "key-a", Scope.TRADE, False, AccountLimits(**limits))  # type: ignore[arg-type]


BOB = Principal("acc-bob", "key-b", Scope.TRADE, False)


def sol(amount: str = "1") -> OrderRequest:
    return OrderRequest("SOL", "USDC", D(amount))


class Limited:
    """A service whose limiter uses `defaults`; SOL is worth 150 USD (the highest of the
    venues' mid prices)."""

    def __init__(
        self,
        defaults: AccountLimits = DEFAULTS,
        *,
        max_depth: int = 100,
        store: InMemoryOrderStore | None = None,
        venues: list[ScriptedVenue] | None = None,
    ) -> None:
        self.venues = venues or [ScriptedVenue("raydium", "150"), ScriptedVenue("meteora", "140")]
        self.rig = Rig(self.venues, store=store or InMemoryOrderStore())
        self.store, self.clock, self.rates = self.rig.store, Clock(), InMemoryRateWindow()
        prices = UsdPrices(Router(self.venues, self.rig.tokens, 5.0))
        self.limiter = AccountLimiter(
            self.store, self.rates, self.clock, defaults=defaults, prices=prices
        )
        self.queue = self.new_queue(max_depth)
        self.service = self.service_on(self.queue, max_depth)

    @staticmethod
    def new_queue(max_depth: int = 100) -> InMemoryJobQueue:
        return InMemoryJobQueue(RetryPolicy(), rate_limit_max=0, max_depth=max_depth)

    def service_on(self, queue: InMemoryJobQueue, max_depth: int = 100) -> OrderService:
        return OrderService(
            self.store,
            queue,
            self.rig.bus,
            self.rig.venues,
            self.rig.clock,
            tokens=self.rig.tokens,
            max_queue_depth=max_depth,
            quote_timeout_s=5.0,
            account_limits=self.limiter,
        )

    async def submit(
        self, by: Principal | None, request: OrderRequest | None = None, key: str | None = None
    ) -> Order:
        order, _ = await self.service.submit(request or sol(), key, by=by)
        return order

    async def stored(self) -> int:
        return len((await self.store.list(status=None, limit=200, cursor=None)).items)


# --- the largest order ---------------------------------------------------------------


async def test_an_order_worth_more_than_the_limit_is_refused_naming_amount_in() -> None:
    limited = Limited()
    await limited.submit(alice(), sol("6.6"))  # 990 USD
    with pytest.raises(OrderTooLargeError) as caught:
        await limited.submit(alice(), sol("6.67"))  # 1000.5 USD
    error = caught.value
    assert (error.code, error.field) == ("order_too_large", "amountIn")
    assert "worth about 1000.50 USD" in error.message
    assert "largest order (maxOrderUsd) of 1000 USD" in error.message
    assert await limited.stored() == 1 and await limited.queue.depth() == 1


async def test_stablecoins_are_worth_one_dollar_and_other_tokens_their_pools_price() -> None:
    limited = Limited()
    await limited.submit(alice(), OrderRequest("USDC", "SOL", D("1000")))
    with pytest.raises(OrderTooLargeError):
        await limited.submit(alice(), OrderRequest("USDT", "SOL", D("1000.000001")))
    # BONK is priced through its pools as any token (these venues quote 150 for it too)
    with pytest.raises(OrderTooLargeError):
        await limited.submit(alice(), OrderRequest("BONK", "USDC", D("7")))


async def test_an_accounts_override_replaces_the_default_size() -> None:
    limited = Limited()
    await limited.submit(alice(max_order_size=D(2000)), sol("13"))  # 1950 USD
    with pytest.raises(OrderTooLargeError) as caught:
        await limited.submit(alice(max_order_size=D(100)), sol("1"))
    assert "of 100 USD" in caught.value.message


async def test_an_order_whose_value_is_unknown_is_not_size_checked_and_a_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_pools = [ScriptedVenue("raydium", "150", quote_error=NoRouteError("no pool"))]
    limited = Limited(venues=no_pools)
    with caplog.at_level(logging.WARNING, logger="order_engine.engine.usd_prices"):
        await limited.submit(alice(), sol("1000000"))
    assert "no USD price for SOL" in caplog.text and "not checked" in caplog.text


# --- open orders -----------------------------------------------------------------------


async def test_open_orders_over_the_limit_get_429_with_retry_after() -> None:
    limited = Limited(AccountLimits(max_open_orders=2))
    first = await limited.submit(alice())
    await limited.submit(alice(), OrderRequest("SOL", "USDC", D(1), type=OrderType.LIMIT,
                                               limit_price=D(999)))  # fmt: skip
    with pytest.raises(TooManyOpenOrdersError) as caught:
        await limited.submit(alice())
    error = caught.value
    assert error.code == "too_many_open_orders"
    assert error.retry_after_s == OPEN_ORDERS_RETRY_AFTER_S
    assert "2 open orders" in error.message and "maxOpenOrders 2" in error.message
    await limited.submit(BOB)  # another account is not held back
    await limited.service.cancel(first.id, alice())  # a final order frees its place
    await limited.submit(alice())
    assert await limited.stored() == 4


async def test_an_accounts_override_replaces_the_default_open_orders() -> None:
    limited = Limited(AccountLimits(max_open_orders=1))
    for _ in range(3):
        await limited.submit(alice(max_open_orders=3))
    with pytest.raises(TooManyOpenOrdersError):
        await limited.submit(alice(max_open_orders=3))


class _SlowReads(InMemoryOrderStore):
    """Like a real database: a count is a snapshot whose answer comes a while later (other
    submits may finish meanwhile), and a write gives the event loop a turn."""

    async def count_open(self, account_id: str) -> int:
        snapshot = await super().count_open(account_id)
        for _ in range(20):
            await asyncio.sleep(0)
        return snapshot

    async def create(self, order: Order, event: OrderEvent) -> None:
        await asyncio.sleep(0)
        await super().create(order, event)


@pytest.mark.parametrize("cap", [1, 5])
async def test_racing_submits_never_pass_the_open_orders_limit(cap: int) -> None:
    limited = Limited(AccountLimits(max_open_orders=cap), store=_SlowReads())
    results = await asyncio.gather(
        *(limited.submit(alice()) for _ in range(20)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, TooManyOpenOrdersError) for r in refused)
    assert 1 <= len(results) - len(refused) == await limited.stored() <= cap


# --- orders per minute -----------------------------------------------------------------


async def test_orders_per_minute_over_the_limit_get_429_until_the_oldest_leaves() -> None:
    limited = Limited(AccountLimits(orders_per_minute=3))
    for offset_s in (0, 10, 20):
        limited.clock.ms = T0 + offset_s * 1000
        await limited.submit(alice())
    limited.clock.ms = T0 + 30_500
    with pytest.raises(AccountRateLimitedError) as caught:
        await limited.submit(alice())
    error = caught.value
    assert error.code == "account_rate_limited" and isinstance(error, CapacityError)
    assert error.retry_after_s == 30  # the first order leaves the window at T0 + 60 s
    assert "3 orders per minute (ordersPerMinute)" in error.message
    await limited.submit(BOB)  # every account has its own window
    limited.clock.ms = T0 + 59_999
    with pytest.raises(AccountRateLimitedError) as caught:
        await limited.submit(alice())
    assert caught.value.retry_after_s == 1
    limited.clock.ms = T0 + 60_000
    await limited.submit(alice())
    assert await limited.stored() == 5


async def test_an_accounts_override_replaces_the_default_rate() -> None:
    limited = Limited(AccountLimits(orders_per_minute=1))
    await limited.submit(alice(orders_per_minute=2))
    await limited.submit(alice(orders_per_minute=2))
    with pytest.raises(AccountRateLimitedError):
        await limited.submit(alice(orders_per_minute=2))


# --- what does not count ---------------------------------------------------------------


async def test_idempotent_replays_never_count_even_at_the_limits() -> None:
    limited = Limited(AccountLimits(max_open_orders=2, orders_per_minute=2))
    first = await limited.submit(alice(), key="k1")
    for _ in range(5):
        assert (await limited.submit(alice(), key="k1")).id == first.id
    second = await limited.submit(alice(), key="k2")
    with pytest.raises(TooManyOpenOrdersError):  # both limits are reached now
        await limited.submit(alice(), key="k3")
    assert (await limited.submit(alice(), key="k2")).id == second.id  # replays still answer
    await limited.service.cancel(first.id, alice())
    with pytest.raises(AccountRateLimitedError):
        await limited.submit(alice(), key="k3")
    assert await limited.stored() == 2


async def test_a_submit_refused_after_the_checks_gives_its_place_back() -> None:
    limited = Limited(AccountLimits(orders_per_minute=2), max_depth=1)
    await limited.submit(alice())
    for _ in range(3):
        with pytest.raises(CapacityError) as caught:  # the engine's queue is full
            await limited.submit(alice())
        assert caught.value.code == "queue_full"
    roomy = limited.service_on(limited.new_queue())
    await roomy.submit(sol(), by=alice())  # the refused ones took no place in the minute
    with pytest.raises(AccountRateLimitedError):
        await roomy.submit(sol(), by=alice())


async def test_orders_without_an_owner_are_not_limited() -> None:
    limited = Limited(AccountLimits(max_open_orders=1, orders_per_minute=1, max_order_size=D(1)))
    for _ in range(3):
        await limited.submit(None, sol("100"))
    assert await limited.stored() == 3


async def test_no_limits_configured_means_none_are_checked() -> None:
    limited = Limited(AccountLimits())
    for _ in range(3):
        await limited.submit(alice(), sol("100000"))
    assert await limited.stored() == 3


# --- where the limits come from --------------------------------------------------------


def test_the_settings_give_the_defaults_and_zero_means_no_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ACCOUNT_MAX_OPEN_ORDERS", "ACCOUNT_ORDERS_PER_MINUTE", "ACCOUNT_MAX_ORDER_USD"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None).account_limits
    assert defaults == AccountLimits(1000, 6000, D(1_000_000))
    monkeypatch.setenv("ACCOUNT_MAX_OPEN_ORDERS", "0")
    monkeypatch.setenv("ACCOUNT_MAX_ORDER_USD", "2500.50")
    settings = Settings(_env_file=None)
    assert settings.account_limits == AccountLimits(None, 6000, D("2500.50"))
    assert alice(orders_per_minute=5).limits.over(settings.account_limits) == AccountLimits(
        None, 5, D("2500.50")
    )


async def test_a_key_authenticates_with_its_accounts_limits() -> None:
    clock = Clock()
    store = InMemoryAccountStore()
    admin = AccountAdmin(store, clock)
    account = await admin.create_account("alice")
    _, token = await admin.create_key("alice")
    limits = AccountLimits(max_open_orders=7, max_order_size=D("12.5"))
    await store.set_limits(account.id, limits)
    principal = await Authenticator(store, clock).authenticate(f"Bearer {token.reveal()}")
    assert principal.limits == limits
