"""The simulated venues: reference prices, the pool book, reproducible noisy quotes, mock
transactions.

How the pools behind the quotes move (impact, bins, expiry, execution) is in
`test_pool_venues.py`."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from decimal import Decimal

import pytest

from order_engine.domain.errors import NoRouteError
from order_engine.domain.pools import ConstantProductPool, DlmmPool
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import TOKENS, Token, TokenRegistry
from order_engine.venues.base import Venue
from order_engine.venues.sim.market import BUILT_IN_USD_PRICES, ReferencePrices
from order_engine.venues.sim.pool_book import (
    DEPTH_USD,
    PairTier,
    PoolPair,
    new_pool,
    pool_depth_usd,
    pool_pairs,
)
from order_engine.venues.sim.simulated import (
    METEORA,
    RAYDIUM,
    SimulatedVenue,
    VenueProfile,
    b58encode,
    mock_signature,
    simulated_venues,
)
from tests.unit.venue_helpers import built, venue

D = Decimal
SOL, USDC, USDT, BONK = TOKENS["SOL"], TOKENS["USDC"], TOKENS["USDT"], TOKENS["BONK"]
WSOL, JUP = TOKENS["WSOL"], TOKENS["JUP"]
BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{87,88}$")
PRICES = ReferencePrices()  # the built-in prices (no test registers anything in it)
usd_price, base_price = PRICES.usd_price, PRICES.base_price


# --- market -------------------------------------------------------------------------------


def test_every_built_in_token_has_a_reference_price() -> None:
    assert set(PRICES) == set(BUILT_IN_USD_PRICES) == set(TOKENS)
    assert PRICES.as_dict() == BUILT_IN_USD_PRICES
    assert all(isinstance(p, Decimal) and p > 0 for p in BUILT_IN_USD_PRICES.values())


def test_base_price_is_token_out_per_token_in() -> None:
    assert base_price(SOL, USDC) == D(150)
    assert base_price(USDC, SOL) * 150 == pytest.approx(D(1), abs=D("1e-20"))
    assert base_price(SOL, BONK) == D(7_500_000)
    assert base_price("sol", "wsol") == D(1)


def test_base_price_of_an_unpriced_token_is_no_route() -> None:
    with pytest.raises(NoRouteError):
        base_price("DOGE", "USDC")


# --- the pool book ------------------------------------------------------------------------


def test_a_pair_is_one_pool_whichever_way_and_sol_trades_as_wsol() -> None:
    assert PoolPair.of(SOL, USDC) == PoolPair.of(USDC, SOL) == PoolPair.of(WSOL, USDC)
    assert PoolPair.of(SOL, USDC) == PoolPair("WSOL", "USDC")
    assert PoolPair.of(BONK, SOL) == PoolPair("BONK", "WSOL")
    assert PoolPair.of(JUP, BONK) == PoolPair("BONK", "JUP")
    assert PoolPair.of("usdt", "usdc") == PoolPair("USDT", "USDC")
    pair = PoolPair.of(SOL, USDC)
    assert pair.sells_base(SOL) and pair.sells_base(WSOL) and not pair.sells_base(USDC)
    assert base_price(pair.base, pair.quote) == D(150) and str(pair) == "WSOL/USDC"
    with pytest.raises(ValueError, match="against itself"):
        PoolPair.of(SOL, WSOL)


def test_every_pair_of_registry_tokens_has_a_pool() -> None:
    pairs = pool_pairs()
    assert len(pairs) == len(set(pairs)) == 21  # 7 pool tokens (SOL = WSOL): 7·6/2
    assert PoolPair("USDT", "USDC") in pairs and PoolPair("WSOL", "USDC") in pairs


def test_depths_are_a_table_by_venue_and_tier() -> None:
    sol_usdc, stable, minor = (
        PoolPair.of(SOL, USDC),
        PoolPair.of(USDC, USDT),
        PoolPair.of(JUP, BONK),
    )
    assert (sol_usdc.tier, stable.tier, minor.tier) == (
        PairTier.MAJOR,
        PairTier.STABLE,
        PairTier.MINOR,
    )
    assert pool_depth_usd("raydium", sol_usdc) == D(2_000_000)
    assert pool_depth_usd("meteora", sol_usdc) == D(1_500_000)
    for name in ("raydium", "meteora"):
        table = DEPTH_USD[name]
        assert table[PairTier.STABLE] > table[PairTier.MAJOR] > table[PairTier.MINOR] > 0
        assert pool_depth_usd(name, stable) == table[PairTier.STABLE]
    with pytest.raises(ValueError, match="no pools are configured for venue 'orca'"):
        pool_depth_usd("orca", sol_usdc)
    with pytest.raises(ValueError, match="orca"):
        SimulatedVenue(dataclasses.replace(RAYDIUM, name="orca"), seed=1)


@pytest.mark.parametrize("pair", pool_pairs(), ids=str)
def test_new_pools_sit_at_the_reference_price_with_the_configured_depth(pair: PoolPair) -> None:
    ray = new_pool("raydium", pair, fee=D("0.003"), prices=PRICES)
    assert isinstance(ray, ConstantProductPool) and ray.fee == D("0.003")
    assert ray.mid_price == pytest.approx(base_price(pair.base, pair.quote), rel=D("1e-30"))
    depth_b = pool_depth_usd("raydium", pair) / usd_price(pair.quote)
    assert ray.reserve_b == pytest.approx(depth_b, rel=D("1e-30"))
    met = new_pool("meteora", pair, fee=D("0.002"), prices=PRICES)
    assert isinstance(met, DlmmPool) and met.base_fee == met.fee_rate == D("0.002")
    assert met.mid_price == base_price(pair.base, pair.quote)
    b_side = sum((b.reserve_b for b in met.bins), D(0))
    assert b_side == pytest.approx(pool_depth_usd("meteora", pair) / usd_price(pair.quote))


# --- quotes -------------------------------------------------------------------------------


def test_profiles_follow_the_product_description() -> None:
    assert (RAYDIUM.name, RAYDIUM.fee) == ("raydium", D("0.003"))
    assert (RAYDIUM.variance_low, RAYDIUM.variance_high) == (D("0.98"), D("1.02"))
    assert (METEORA.name, METEORA.fee) == ("meteora", D("0.002"))
    assert (METEORA.variance_low, METEORA.variance_high) == (D("0.97"), D("1.02"))
    for profile in (RAYDIUM, METEORA):
        assert profile.quote_latency_s == 0.2
        assert profile.swap_latency_s == (2.0, 3.0)
        assert profile.drift == D("0.005")
        assert profile.quote_ttl_s == 10.0


def test_factory_returns_raydium_then_meteora_as_venues() -> None:
    tokens = TokenRegistry()
    venues = simulated_venues(seed=1, latency_scale=0, tokens=tokens)
    assert all(v.prices is venues[0].prices and v.prices.tokens is tokens for v in venues)
    assert [v.name for v in venues] == ["raydium", "meteora"]
    first: Venue = venues[0]  # statically checked against the protocol by mypy
    assert first.name == "raydium"


@pytest.mark.parametrize(("scale", "rate"), [(-1.0, 0.0), (0.0, -0.1), (0.0, 1.5)])
def test_bad_settings_are_rejected(scale: float, rate: float) -> None:
    with pytest.raises(ValueError):
        SimulatedVenue(RAYDIUM, seed=1, latency_scale=scale, failure_rate=rate)


async def quotes_of(
    v: SimulatedVenue, n: int, token_in: Token = SOL, token_out: Token = USDC, amount: str = "1.5"
) -> list[Quote]:
    return [await v.quote(token_in, token_out, D(amount)) for _ in range(n)]


async def test_same_seed_gives_the_same_quotes() -> None:
    assert await quotes_of(venue(seed=7), 20) == await quotes_of(venue(seed=7), 20)


async def test_other_seed_or_other_venue_gives_other_quotes() -> None:
    reference = [q.price for q in await quotes_of(venue(seed=7), 5)]
    assert [q.price for q in await quotes_of(venue(seed=8), 5)] != reference
    assert [q.price for q in await quotes_of(venue(METEORA, seed=7), 5)] != reference


async def test_quoted_prices_do_not_depend_on_how_many_swaps_ran() -> None:
    """The noise of the mid comes from its own source; swaps only change the pool's depth."""
    busy, idle = venue(seed=3), venue(seed=3)
    tx = await built(busy)
    await busy.submit(tx)
    await busy.confirm(tx.signature)
    assert (await quotes_of(busy, 3))[0].price == (await quotes_of(idle, 4))[1].price


@pytest.mark.parametrize("profile", [RAYDIUM, METEORA])
async def test_quotes_stay_in_the_variance_band_and_pay_the_fee(profile: VenueProfile) -> None:
    amount = D("1.5")
    base = base_price(SOL, USDC)
    quotes = await quotes_of(venue(profile, seed=11), 300)
    keep = 1 - profile.fee
    for q in quotes:
        assert base * profile.variance_low <= q.price <= base * profile.variance_high
        assert q.fee == profile.fee and q.venue == profile.name
        assert (q.token_in, q.token_out, q.amount_in) == ("SOL", "USDC", amount)
        assert q.fee_amount == amount * profile.fee
        flat = quantize(amount * q.price * keep, 6)  # what a pool without depth limits pays
        # A 1.5 SOL order barely moves a pool worth millions: at most 0.02% below flat.
        assert flat * (1 - D("0.0002")) <= q.amount_out <= flat
        assert 0 <= q.price_impact < D("0.0002")
    prices = [q.price for q in quotes]
    middle = base * (profile.variance_low + profile.variance_high) / 2
    assert min(prices) < middle - base * D("0.01") < middle + base * D("0.01") < max(prices)
    assert [q.pool_version for q in quotes] == sorted({q.pool_version for q in quotes})


async def test_raydium_band_matches_the_brief() -> None:
    base = base_price(SOL, USDC)
    for q in await quotes_of(venue(seed=5), 200, amount="1"):
        assert base * D("0.98") * D("0.997") * D("0.9999") <= q.amount_out
        assert q.amount_out <= base * D("1.02") * D("0.997")


async def test_amount_out_is_rounded_down_to_token_out_decimals() -> None:
    for q in await quotes_of(venue(seed=2), 20, SOL, BONK, amount="0.123456789"):
        assert q.amount_out.as_tuple().exponent == -BONK.decimals
        assert q.amount_out <= q.amount_in * q.price * (1 - q.fee)


async def test_tiny_amount_that_buys_nothing_has_no_route() -> None:
    with pytest.raises(NoRouteError, match="less than one unit"):
        await venue().quote(BONK, SOL, D("0.00001"))


async def test_quote_sleeps_its_scaled_latency() -> None:
    v = SimulatedVenue(RAYDIUM, seed=1, latency_scale=0.25)  # 0.2 s x 0.25 = 50 ms
    loop = asyncio.get_running_loop()
    started = loop.time()
    await v.quote(SOL, USDC, D(1))
    assert 0.045 <= loop.time() - started < 1.0


# --- building -----------------------------------------------------------------------------


def test_b58encode_known_vectors() -> None:
    assert b58encode(b"") == ""
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    assert b58encode(b"\x00\x00\x01") == "112"
    assert b58encode(bytes(32)) == "1" * 32
    assert (
        b58encode(b"\xff" * 64)[-1] in "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    )


def test_mock_signatures_look_like_solana_signatures_and_are_unique() -> None:
    signatures = [mock_signature() for _ in range(500)]
    assert all(BASE58.match(s) for s in signatures)
    assert len(set(signatures)) == len(signatures)


async def test_built_transaction_carries_the_quote_and_a_fresh_signature() -> None:
    v = venue()
    q = await v.quote(SOL, USDC, D("1.5"))
    a = await v.build(q, token_in=SOL, token_out=USDC, min_amount_out=D(200), order_id="o1")
    b = await v.build(q, token_in=SOL, token_out=USDC, min_amount_out=D(200), order_id="o1")
    assert BASE58.match(a.signature) and a.signature != b.signature
    assert (a.venue, a.order_id, a.quote, a.min_amount_out) == ("raydium", "o1", q, D(200))
    assert a.as_dict()["minAmountOut"] == "200"


async def test_building_another_venues_quote_is_refused() -> None:
    q = await venue(METEORA).quote(SOL, USDC, D(1))
    with pytest.raises(ValueError, match="meteora"):
        await venue(RAYDIUM).build(
            q, token_in=SOL, token_out=USDC, min_amount_out=D(1), order_id="o"
        )


async def test_native_sol_in_is_wrapped_before_the_swap() -> None:
    tx = await built(venue(), SOL, USDC, "1.5", min_out=D("220.5"))
    assert tx.steps[:2] == ("create wSOL account", "wrap 1.5 SOL -> wSOL")
    swap = tx.steps[2]
    assert swap.startswith("swap 1.5 WSOL -> USDC on raydium") and "(min out 220.5 USDC)" in swap
    assert not any("unwrap" in s for s in tx.steps)


async def test_native_sol_out_is_unwrapped_after_the_swap() -> None:
    tx = await built(venue(METEORA), USDC, SOL, "300")
    assert not any(s.startswith("wrap") for s in tx.steps)
    swap_at = next(i for i, s in enumerate(tx.steps) if s.startswith("swap 300 USDC -> WSOL"))
    assert tx.steps[swap_at + 1 :] == ("unwrap wSOL -> SOL", "close wSOL account")
    assert "on meteora" in tx.steps[swap_at]


async def test_no_wrapping_without_native_sol() -> None:
    tx = await built(venue(), USDC, USDT, "100")
    assert len(tx.steps) == 1 and tx.steps[0].startswith("swap 100 USDC -> USDT on raydium")
    assert not any("sol" in s.lower() for s in tx.steps)
