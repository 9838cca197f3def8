"""`UsdPrices`: a token's USD price from the venues' pools (the highest mid price, directly
or through SOL), remembered per token and read again at most every few seconds (one read
for concurrent askers); a price that cannot be read is kept for a while, then unknown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

import pytest

from order_engine.domain.errors import NoRouteError, VenueUnavailableError
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.paths import Router
from order_engine.engine.usd_prices import UsdPrices
from order_engine.venues.base import PriceCurve
from tests.unit.fakes import LinearCurve, ScriptedVenue

D = Decimal
NEW = Token("NEWT", "NewtMint1111111111111111111111111111111111", 6)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class ThinCurve:
    """A pool too thin for `limit` or more of its input."""

    inner: LinearCurve
    limit: Decimal

    @property
    def venue(self) -> str:
        return self.inner.venue

    def quote(self, amount_in: Decimal) -> Quote:
        if amount_in >= self.limit:
            raise NoRouteError("not enough liquidity")
        return self.inner.quote(amount_in)

    def amount_out(self, amount_in: Decimal) -> Decimal:
        return self.quote(amount_in).amount_out


class PairVenue:
    """A venue with pools for some pairs only (symbol pairs -> mid price)."""

    def __init__(self, name: str, prices: dict[tuple[str, str], str], thin: str = "") -> None:
        self.name, self.prices, self.thin = name, {k: D(v) for k, v in prices.items()}, thin
        self.curves = 0

    async def curve(self, token_in: Token, token_out: Token) -> PriceCurve:
        self.curves += 1
        price = self.prices.get((token_in.symbol, token_out.symbol))
        if price is None:
            raise NoRouteError(f"{self.name} has no {token_in.symbol}/{token_out.symbol} pool")
        curve = LinearCurve(self.name, token_in, token_out, price, D("0.003"))
        return ThinCurve(curve, D(self.thin)) if self.thin else curve


def prices_over(
    venues: list[object], ticks: Ticks, tokens: TokenRegistry | None = None
) -> UsdPrices:
    router = Router(venues, tokens or TokenRegistry(), 5.0)  # type: ignore[arg-type]
    return UsdPrices(router, monotonic=ticks)


async def test_stablecoins_are_one_dollar_without_reading_a_pool() -> None:
    venue = ScriptedVenue("raydium", "150")
    prices = prices_over([venue], Ticks())
    assert await prices.price("USDC") == await prices.price("USDT") == D(1)
    assert venue.quote_calls == 0


async def test_the_highest_mid_price_is_read_once_per_few_seconds() -> None:
    ticks = Ticks()
    raydium, meteora = ScriptedVenue("raydium", "150"), ScriptedVenue("meteora", "152.5")
    prices = prices_over([raydium, meteora], ticks)
    answers = await asyncio.gather(*(prices.value("SOL", D("2")) for _ in range(10)))
    assert answers == [D("305.0")] * 10
    assert (raydium.quote_calls, meteora.quote_calls) == (1, 1)  # one read for all ten
    ticks.now += 4.9
    meteora.price = D(160)
    assert await prices.price("SOL") == D("152.5")
    ticks.now += 0.1
    assert await prices.price("SOL") == D(160)
    assert raydium.quote_calls == 2


async def test_a_token_without_a_usdc_pool_is_priced_through_sol() -> None:
    tokens = TokenRegistry()
    tokens.register(NEW)
    venue = PairVenue("raydium", {("NEWT", "SOL"): "0.5", ("SOL", "USDC"): "150"})
    prices = prices_over([venue], Ticks(), tokens)
    assert await prices.price("NEWT") == D("75.0")


async def test_a_thin_pool_is_priced_from_a_smaller_amount() -> None:
    venue = PairVenue("raydium", {("SOL", "USDC"): "150"}, thin="0.5")
    assert await prices_over([venue], Ticks()).price("SOL") == D(150)


async def test_a_price_that_cannot_be_read_again_is_kept_for_a_minute_then_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    venue = ScriptedVenue("raydium", "150")
    prices = prices_over([venue], ticks)
    assert await prices.price("SOL") == D(150)
    venue.quote_error = VenueUnavailableError("the chain did not answer")
    caplog.set_level(logging.WARNING, logger="order_engine.engine.usd_prices")
    ticks.now += 30
    assert await prices.price("SOL") == D(150)
    assert "the last one (30 s old) is used" in caplog.text
    ticks.now += 2  # failures are not retried within the few seconds either
    assert await prices.price("SOL") == D(150) and venue.quote_calls == 2
    ticks.now += 28
    assert await prices.price("SOL") is None
    assert "no USD price for SOL" in caplog.text
    venue.quote_error = None
    ticks.now += 5
    assert await prices.price("SOL") == D(150)


async def test_a_token_nothing_prices_has_no_value() -> None:
    tokens = TokenRegistry()
    tokens.register(NEW)
    venue = PairVenue("raydium", {("SOL", "USDC"): "150"})
    prices = prices_over([venue], Ticks(), tokens)
    assert await prices.value("NEWT", D(5)) is None
    assert await prices.value("NOPE", D(5)) is None  # not a token this engine knows
