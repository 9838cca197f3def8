"""The venues' pools: price curves, and swaps executed on the pool state (the pool book's
configuration is tested in `test_venues.py`)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from order_engine.domain.errors import NoRouteError, SlippageExceededError
from order_engine.domain.pools import DlmmPool, InsufficientLiquidityError
from order_engine.domain.quotes import Quote, minimum_out, quantize
from order_engine.domain.tokens import TOKENS, Token
from order_engine.venues.base import PriceCurve, TxState
from order_engine.venues.sim.curves import DlmmLadder, PoolCurve
from order_engine.venues.sim.market import BUILT_IN_USD_PRICES
from order_engine.venues.sim.pool_book import PoolPair, pool_depth_usd
from order_engine.venues.sim.simulated import (
    METEORA,
    RAYDIUM,
    SLIPPAGE_REASON,
    SimulatedVenue,
    VenueProfile,
)
from tests.unit.venue_helpers import Clock, build_for, venue

D = Decimal
SOL, WSOL, USDC = TOKENS["SOL"], TOKENS["WSOL"], TOKENS["USDC"]
BOTH = pytest.mark.parametrize("profile", [RAYDIUM, METEORA], ids=["raydium", "meteora"])


# --- curves -------------------------------------------------------------------------------


async def test_a_curve_is_a_price_curve_for_one_direction_of_the_pool() -> None:
    v = venue(METEORA)
    curve: PriceCurve = await v.curve(USDC, SOL)  # the protocol, checked by mypy
    assert curve.venue == "meteora"
    assert isinstance(curve, PoolCurve) and not curve.a_to_b
    assert curve.pool is v.pool(WSOL, USDC)  # the venue's current state for the pair
    q = curve.quote(D(150))
    assert (q.token_in, q.token_out, q.venue) == ("USDC", "SOL", "meteora")
    assert q.price == pytest.approx(1 / curve.pool.mid_price, rel=D("1e-17"))
    assert q.amount_out == quantize(D(150) * D("0.998") * q.price, 9)  # one flat bin


async def test_many_amounts_are_quoted_on_one_pool_state() -> None:
    v = venue(RAYDIUM, seed=4)
    curve = await v.curve(SOL, USDC)
    amounts = [D(n) / 7 for n in range(1, 200)]
    quotes = [curve.quote(quantize(a, 9)) for a in amounts]
    assert {q.pool_version for q in quotes} == {curve.pool.version}
    assert {q.price for q in quotes} == {curve.price}
    assert [curve.quote(q.amount_in) for q in quotes] == quotes  # deterministic
    outs = [q.amount_out for q in quotes]
    assert outs == sorted(outs) and len(set(outs)) == len(outs)  # more in, more out


@BOTH
async def test_a_curve_is_a_snapshot_later_quotes_and_swaps_leave_alone(
    profile: VenueProfile,
) -> None:
    v = venue(profile, seed=8)
    curve = await v.curve(SOL, USDC)
    before = [curve.quote(D(a)) for a in ("0.5", "40", "2000")]
    later = await v.curve(SOL, USDC)
    assert later.pool.version > curve.pool.version and later.price != curve.price
    tx = await build_for(v, later.quote(D(3000)), min_out=D(0))
    await v.submit(tx)
    assert (await v.status(tx.signature)).state is TxState.LANDED
    assert v.pool(SOL, USDC) is not later.pool  # the swap moved the venue's pool
    assert [curve.quote(D(a)) for a in ("0.5", "40", "2000")] == before


@BOTH
async def test_price_impact_grows_with_size(profile: VenueProfile) -> None:
    curve = await venue(profile, seed=2).curve(SOL, USDC)
    quotes = [curve.quote(D(a)) for a in ("1", "100", "1000", "3000", "6000")]
    impacts = [q.price_impact for q in quotes]
    assert impacts == sorted(impacts) and impacts[-1] > impacts[2] > 0
    effective = [q.effective_price for q in quotes]  # the first two may tie (a flat bin)
    assert min(effective[:2]) > effective[2] > effective[3] > effective[4]


async def test_a_fifth_of_raydiums_depth_costs_far_more_than_a_tiny_order() -> None:
    curve = await venue(RAYDIUM, seed=2).curve(SOL, USDC)
    fifth = pool_depth_usd("raydium", PoolPair.of(SOL, USDC)) / 5 / BUILT_IN_USD_PRICES["SOL"]
    tiny, big = curve.quote(D("0.1")), curve.quote(quantize(fifth, 9))
    # x·y = k: selling a fifth of the SOL reserve moves the average price by about 1/6.
    assert big.effective_price < tiny.effective_price * D("0.88")
    assert D("0.15") < big.price_impact < D("0.18") and tiny.price_impact < D("1e-5")


async def test_meteora_small_orders_are_flat_and_big_ones_cross_bins() -> None:
    curve = await venue(METEORA, seed=2).curve(SOL, USDC)
    keep = 1 - METEORA.fee
    for amount in (D("0.01"), D(1), D(10), D(100)):  # all inside the active bin
        q = curve.quote(amount)
        assert q.price_impact == 0 and q.amount_out == quantize(amount * curve.price * keep, 6)
    big = curve.quote(D(2000))  # a fifth of the depth: several bins, each 0.1% worse
    assert D("0.001") < big.price_impact < D("0.01")


async def test_an_order_larger_than_meteoras_liquidity_has_no_route_there() -> None:
    meteora, raydium = venue(METEORA), venue(RAYDIUM)
    too_big = D(20_000)  # $3M of SOL against $1.5M of USDC in the bins
    with pytest.raises(NoRouteError, match=r"^meteora: the SOL/USDC pool cannot absorb 20000"):
        await meteora.quote(SOL, USDC, too_big)
    q = await raydium.quote(SOL, USDC, too_big)  # x·y = k never runs dry, it just gets dear
    assert q.effective_price < q.price / 2


@BOTH
async def test_amount_out_is_the_quotes_output_and_raises_as_it_does(
    profile: VenueProfile,
) -> None:
    curve = await venue(profile, seed=2).curve(SOL, USDC)
    for amount in ("0.001", "1", "10", "123.456789", "2000"):
        assert curve.amount_out(D(amount)) == curve.quote(D(amount)).amount_out
    for bad in (D("1e-9"), D(0), D(20_000) if profile is METEORA else D(-1)):
        with pytest.raises(Exception) as quoted:
            curve.quote(bad)
        with pytest.raises(Exception) as out_only:
            curve.amount_out(bad)
        assert (type(out_only.value), str(out_only.value)) == (
            type(quoted.value),
            str(quoted.value),
        )


@pytest.mark.parametrize("a_to_b", [True, False], ids=["sell_base", "sell_quote"])
async def test_the_dlmm_ladder_gives_exactly_what_the_pool_swap_gives(a_to_b: bool) -> None:
    v = venue(METEORA, seed=6)
    tx = await build_for(v, await v.quote(SOL, USDC, D("4321.123")), min_out=D(0))
    await v.submit(tx)  # leaves a half-filled active bin and a raised variable fee
    pool = v.pool(SOL, USDC)
    assert isinstance(pool, DlmmPool) and pool.fee_rate > pool.base_fee
    ladder = DlmmLadder.of(pool, a_to_b=a_to_b)
    scale = D(1) if a_to_b else D(150)
    for amount in [D("1e-6"), D("0.3"), D(7), D(77), D(777), D(3000), D(5999)]:
        result = pool.swap(amount * scale, a_to_b=a_to_b)
        fill = ladder.fill(amount * scale)
        assert (fill.amount_out, fill.fee_paid, fill.price_impact) == (
            result.amount_out,
            result.fee_paid,
            result.price_impact,
        )
    with pytest.raises(InsufficientLiquidityError):
        pool.swap(D(50_000) * scale, a_to_b=a_to_b)
    with pytest.raises(InsufficientLiquidityError):
        ladder.fill(D(50_000) * scale)


async def test_quote_fields_describe_fee_impact_version_and_expiry() -> None:
    clock = Clock(1_000.0)
    v = venue(RAYDIUM, now=clock)
    q = await v.quote(SOL, USDC, D("2.5"))
    assert q.fee_amount == D("0.0075") and q.fee == D("0.003")
    assert q.pool_version == 1  # created, then re-priced once for this quote
    assert q.expires_at_ms == 1_010_000 and not q.expired(1_009_999) and q.expired(1_010_000)
    clock.advance(3.25)
    later = await v.quote(SOL, USDC, D("2.5"))
    assert later.expires_at_ms == 1_013_250 and later.pool_version == 2
    short = SimulatedVenue(
        dataclasses.replace(METEORA, quote_ttl_s=0.5), seed=1, latency_scale=0, now=clock
    )
    assert (await short.curve(SOL, USDC)).expires_at_ms == 1_003_750


async def test_meteoras_fee_rises_after_a_swap_crosses_bins_and_decays_with_quotes() -> None:
    v = venue(METEORA, seed=3)
    assert (await v.quote(SOL, USDC, D(1))).fee == D("0.002")
    tx = await build_for(v, await v.quote(SOL, USDC, D(4000)), min_out=D(0))
    await v.submit(tx)
    fees = [(await v.quote(SOL, USDC, D(1))).fee for _ in range(6)]
    assert fees[0] > D("0.0021")
    assert fees == sorted(fees, reverse=True) and fees[-1] < fees[0]


async def test_pairs_without_a_pool_have_no_route_naming_the_venue() -> None:
    v = venue(METEORA)
    with pytest.raises(NoRouteError, match=r"^meteora: no pool trades WSOL against itself"):
        await v.curve(SOL, WSOL)
    doge = Token("DOGE", "doge-mint", 8)
    with pytest.raises(NoRouteError, match=r"^meteora: no market price for DOGE"):
        await v.curve(doge, USDC)


# --- execution on the pool ----------------------------------------------------------------


@BOTH
async def test_the_band_of_quoted_mids_follows_the_product_description(
    profile: VenueProfile,
) -> None:
    v = venue(profile, seed=17)
    ratios = [(await v.curve(SOL, USDC)).price / 150 for _ in range(200)]
    assert all(profile.variance_low <= r <= profile.variance_high for r in ratios)
    assert min(ratios) < profile.variance_low + D("0.005")
    assert max(ratios) > profile.variance_high - D("0.005")


async def test_a_pool_moved_beyond_the_tolerance_reverts_the_swap() -> None:
    v = venue(RAYDIUM, seed=12)
    mine = await v.quote(SOL, USDC, D("1.5"))
    tx = await build_for(v, mine, min_out=minimum_out(mine.amount_out, 50, 6), order_id="mine")
    # Someone else's big sale lands first: the pool's SOL price drops by several percent.
    whale = await build_for(v, await v.quote(SOL, USDC, D(600)), min_out=D(0), order_id="whale")
    await v.submit(whale)
    await v.submit(tx)
    status = await v.status(tx.signature)
    assert (status.state, status.execution, status.reason) == (
        TxState.REVERTED,
        None,
        SLIPPAGE_REASON,
    )
    with pytest.raises(SlippageExceededError, match="below the minimum") as caught:
        await v.confirm(tx.signature)
    assert caught.value.code == "slippage_exceeded"
    assert await v.executions("mine") == []


async def test_another_quote_in_between_does_not_move_a_quoted_swap_beyond_the_drift() -> None:
    """Quotes of concurrent orders re-draw the mid; a swap still executes on the mid its
    own quote saw (× the drift), so routing other orders does not revert it."""
    v = venue(METEORA, seed=13)
    for i in range(30):
        mine = await v.quote(SOL, USDC, D(2))
        await v.quote(SOL, USDC, D(2))  # another order's quote
        tx = await build_for(v, mine, min_out=minimum_out(mine.amount_out, 50, 6), order_id=f"o{i}")
        await v.submit(tx)
        execution = await v.confirm(tx.signature)
        assert abs(execution.amount_out / mine.amount_out - 1) <= D("0.005")


@pytest.mark.parametrize(
    ("profile", "amount"), [(RAYDIUM, D(1500)), (METEORA, D(4500))], ids=["raydium", "meteora"]
)
async def test_a_landed_swap_moves_the_pool_so_the_same_swap_again_gets_less(
    profile: VenueProfile, amount: Decimal
) -> None:
    """Each sale moves the mid by over 1.5%, more than the ±0.5% drift of either swap."""
    v = venue(profile, seed=14)
    q = await v.quote(SOL, USDC, amount)
    first = await build_for(v, q, min_out=D(0), order_id="a")
    second = await build_for(v, q, min_out=D(0), order_id="b")
    mid_before = v.pool(SOL, USDC).mid_price
    await v.submit(first)
    mid_after = v.pool(SOL, USDC).mid_price
    assert mid_after < mid_before * D("0.99")
    await v.submit(second)
    got_first, got_second = await v.confirm(first.signature), await v.confirm(second.signature)
    assert got_second.amount_out < got_first.amount_out * D("0.995")
    assert v.pool(SOL, USDC).mid_price < mid_after


async def test_a_reverted_swap_leaves_the_pool_as_it_was() -> None:
    v = venue(RAYDIUM, seed=15)
    q = await v.quote(SOL, USDC, D(1500))
    pool = v.pool(SOL, USDC)
    await v.submit(await build_for(v, q, min_out=q.amount_out * 2))
    assert v.pool(SOL, USDC) is pool


async def test_a_pool_drained_by_an_earlier_swap_reverts_the_next() -> None:
    v = venue(METEORA, seed=16)
    q = await v.quote(SOL, USDC, D(9000))  # fits in the bins once, not twice
    first = await build_for(v, q, min_out=D(0), order_id="a")
    second = await build_for(v, q, min_out=D(0), order_id="b")
    await v.submit(first)
    await v.submit(second)
    assert (await v.status(first.signature)).state is TxState.LANDED
    status = await v.status(second.signature)
    assert (status.state, status.reason) == (TxState.REVERTED, SLIPPAGE_REASON)
    with pytest.raises(SlippageExceededError, match="cannot absorb 9000"):
        await v.confirm(second.signature)


async def test_pools_quotes_and_swaps_are_reproducible_from_the_seed() -> None:
    async def run(seed: int) -> list[Quote | Decimal]:
        v, seen = venue(METEORA, seed=seed), list[Quote | Decimal]()
        for i, amount in enumerate(("1", "2500", "3", "700")):
            q = await v.quote(SOL, USDC, D(amount))
            tx = await build_for(v, q, min_out=D(0), order_id=f"o{i}")
            await v.submit(tx)
            seen += [q, (await v.confirm(tx.signature)).amount_out]
        seen.append((await v.curve(USDC, SOL)).quote(D(1000)))
        return seen

    assert await run(5) == await run(5)
    assert await run(5) != await run(6)
