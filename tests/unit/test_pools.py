"""Pure pool models: constant product (Raydium-like) and discrete bins (Meteora DLMM-like)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from decimal import Context, Decimal, localcontext

import pytest

from order_engine.domain.pools import (
    Bin,
    ConstantProductPool,
    DlmmPool,
    InsufficientLiquidityError,
    Pool,
    SwapResult,
)

D = Decimal
TOL = D("1e-30")
P40 = Context(prec=40)  # expected values get the pools' precision too


def cp_pool() -> Pool:
    return ConstantProductPool.from_depth(D(150), D(1_000_000), D("0.003"))


def dlmm_pool() -> Pool:
    return DlmmPool.from_depth(D(150), D(1_000_000), base_fee=D("0.002"))


def tiny_dlmm() -> DlmmPool:
    """Two bins, 1% apart: bin 0 at 100 holds 1 A + 50 B, bin 1 at 101 holds 2 A."""
    return DlmmPool(
        bin_step_bps=100,
        active_price=D(100),
        bins=(Bin(0, D(1), D(50)), Bin(1, D(2), D(0))),
        base_fee=D("0.0025"),
        variable_fee_control=D(10),
    )


def as_cp(pool: Pool) -> ConstantProductPool:
    assert isinstance(pool, ConstantProductPool)
    return pool


def as_dlmm(pool: Pool) -> DlmmPool:
    assert isinstance(pool, DlmmPool)
    return pool


POOLS: list[Callable[[], Pool]] = [cp_pool, dlmm_pool]
BOTH = pytest.mark.parametrize("make", POOLS, ids=["cp", "dlmm"])
DIRECTIONS = pytest.mark.parametrize("a_to_b", [True, False], ids=["a_to_b", "b_to_a"])
FRACTIONS = [D(f) for f in ("1e-7", "1e-5", "1e-3", "0.01", "0.05", "0.1", "0.3", "0.6", "0.95")]


# ---- constant product -------------------------------------------------------------------


def test_cp_swap_matches_the_hand_computation() -> None:
    pool = ConstantProductPool(D(1000), D(150_000), D("0.003"))
    result = pool.swap(D(10), a_to_b=True)
    # dx_eff = 10 × (1 − 0.003) = 9.97
    # dy = 150000 × 9.97 / (1000 + 9.97) = 1495500 / 1009.97 = 149550000 / 100997
    #    = 1480.737051595591948275691357169024822519…
    # impact = 1 − dy / (9.97 × 150) = 9.97 / 1009.97 = 0.009871580343970612988504609047…
    assert abs(result.amount_out - D("1480.737051595591948275691357169024822519")) < TOL
    assert result.fee_paid == D("0.03")
    assert result.amount_in == D(10)
    assert abs(result.price_impact - D("0.009871580343970612988504609047")) < TOL
    after = as_cp(result.pool_after)
    assert after.reserve_a == D(1010)  # the whole input, fee included, stays in the pool
    with localcontext(P40):
        assert after.reserve_b == D(150_000) - result.amount_out
    assert after.version == 1 and pool.version == 0


def test_cp_swap_b_to_a_matches_the_hand_computation() -> None:
    pool = ConstantProductPool(D(1000), D(150_000), D("0.003"))
    result = pool.swap(D(1500), a_to_b=False)
    # dy_eff = 1500 × 0.997 = 1495.5; dx = 1000 × 1495.5 / 151495.5 = 9.871580343970612988…
    # impact = 1 − dx / (1495.5 / 150) = 1495.5 / 151495.5 = 0.009871580343970612988…
    assert abs(result.amount_out - D("9.871580343970612988504609047793498816797")) < TOL
    assert abs(result.price_impact - D("0.009871580343970612988504609047")) < TOL
    assert result.fee_paid == D("4.5")
    after = as_cp(result.pool_after)
    assert after.reserve_b == D(151_500)
    with localcontext(P40):
        assert after.reserve_a == D(1000) - result.amount_out


def test_cp_from_depth_sets_reserves_and_mid() -> None:
    pool = ConstantProductPool.from_depth(D(150), D(300_000), D("0.0025"))
    assert (pool.reserve_a, pool.reserve_b) == (D(2000), D(300_000))
    assert pool.mid_price == D(150) and pool.fee_rate == D("0.0025")
    assert pool.depth_in(a_to_b=True) == D(2000) and pool.depth_in(a_to_b=False) == D(300_000)


def test_cp_repriced_keeps_liquidity_and_moves_the_mid() -> None:
    pool = ConstantProductPool(D(1000), D(150_000), D("0.003"), version=4)
    moved = pool.repriced(D(160))
    assert abs(moved.liquidity - pool.liquidity) < TOL
    assert abs(moved.mid_price - D(160)) < TOL
    assert moved.version == 5 and moved.fee == pool.fee
    assert pool.reserve_a == D(1000) and pool.version == 4  # the old pool is untouched


def test_cp_never_runs_dry() -> None:
    pool = as_cp(cp_pool())
    result = pool.swap(D("1e15"), a_to_b=True)
    assert 0 < result.amount_out < pool.reserve_b
    assert as_cp(result.pool_after).reserve_b > 0
    assert result.price_impact > D("0.99")


# ---- DLMM ------------------------------------------------------------------------------


def test_dlmm_from_depth_builds_a_triangle_worth_depth_on_each_side() -> None:
    pool = as_dlmm(dlmm_pool())
    assert len(pool.bins) == 121 and pool.mid_price == D(150)
    values = {b.offset: b.value_b(pool.bin_price(b.offset)) for b in pool.bins}
    assert abs(sum(b.reserve_b for b in pool.bins) - D(1_000_000)) < D("1e-20")
    a_value = sum(b.reserve_a * pool.bin_price(b.offset) for b in pool.bins)
    assert abs(a_value - D(1_000_000)) < D("1e-20")
    # weights n + 1 − |i| over a side weight of (n + 1)² / 2: the active bin gets 61/1860.5
    assert abs(values[0] - D(1_000_000) * 61 / D("1860.5")) < D("1e-20")
    assert all(values[i] > values[i + 1] > 0 for i in range(60))
    assert all(values[-i] == values[i] for i in range(1, 61))
    active = pool.bins[60]
    assert active.offset == 0 and active.reserve_a > 0 and active.reserve_b > 0


def test_dlmm_fee_rate_is_base_plus_variable_capped() -> None:
    pool = dataclasses.replace(tiny_dlmm(), bin_step_bps=10, volatility=D(20))
    # 0.0025 + 10 × (20 × 10 / 10000)² = 0.0025 + 10 × 0.0004 = 0.0065
    assert pool.fee_rate == D("0.0065")
    assert dataclasses.replace(pool, volatility=D(1000)).fee_rate == D("0.10")
    assert dataclasses.replace(pool, volatility=D(0)).fee_rate == D("0.0025")


@DIRECTIONS
def test_dlmm_order_inside_the_active_bin_sees_a_flat_price(a_to_b: bool) -> None:
    pool = as_dlmm(dlmm_pool())
    amount = D("0.01") if a_to_b else D(1)
    result = pool.swap(amount, a_to_b=a_to_b)
    net = amount * D("0.998")
    after = as_dlmm(result.pool_after)
    before_bin, after_bin = pool.bins[60], after.bins[60]
    with localcontext(P40):
        assert result.amount_out == (net * 150 if a_to_b else net / 150)
        if a_to_b:
            assert after_bin.reserve_a == before_bin.reserve_a + net
            assert after_bin.reserve_b == before_bin.reserve_b - result.amount_out
        else:
            assert after_bin.reserve_b == before_bin.reserve_b + net
            assert after_bin.reserve_a == before_bin.reserve_a - result.amount_out
    assert result.price_impact == 0
    assert result.fee_paid == amount * D("0.002")
    assert (after.active_price, after.volatility, after.version) == (D(150), D(0), 1)
    assert after.fee_rate == pool.fee_rate


def test_dlmm_crossing_bins_matches_the_hand_computation() -> None:
    pool = tiny_dlmm()
    result = pool.swap(D(200), a_to_b=False)
    # fee 200 × 0.0025 = 0.5, net 199.5 B. Bin 0 (price 100) sells its 1 A for 100 B;
    # the other 99.5 B buy 99.5 / 101 A in bin 1 (price 101). out = 1 + 99.5/101.
    after = as_dlmm(result.pool_after)
    with localcontext(P40):
        out = 1 + D("99.5") / 101
        assert abs(result.amount_out - out) < TOL
        assert abs(result.price_impact - (1 - out / D("1.995"))) < TOL
        assert abs(after.bins[1].reserve_a - (2 - D("99.5") / 101)) < TOL
    assert result.fee_paid == D("0.5")
    assert after.active_price == D(101) and after.volatility == 1
    assert after.bins[0] == Bin(-1, D(0), D(150))
    assert after.bins[1].offset == 0 and after.bins[1].reserve_b == D("99.5")
    assert after.fee_rate == D("0.0035")  # 0.0025 + 10 × (1 × 0.01)²


def test_dlmm_big_order_moves_the_active_bin_and_raises_the_fee() -> None:
    pool = as_dlmm(dlmm_pool())
    first = pool.swap(D(2000), a_to_b=True)
    after = as_dlmm(first.pool_after)
    crossed = int(after.volatility)
    assert crossed > 5 and after.volatility == crossed
    assert after.active_price == pool.bin_price(-crossed)
    assert first.price_impact > 0
    assert first.amount_out < D(2000) * D("0.998") * 150
    assert after.fee_rate > pool.fee_rate
    second = after.swap(D(2000), a_to_b=True)
    assert second.fee_paid > first.fee_paid
    assert as_dlmm(second.pool_after).volatility > after.volatility
    assert all(b.reserve_b == 0 for b in after.bins if b.offset > 0)
    assert all(b.reserve_a == 0 for b in after.bins if b.offset < 0)


def test_dlmm_depth_in_and_running_out_of_bins() -> None:
    pool = tiny_dlmm()
    assert pool.depth_in(a_to_b=True) == D("0.5")  # 50 B at 100
    assert pool.depth_in(a_to_b=False) == D(302)  # 1 A at 100 + 2 A at 101
    with pytest.raises(InsufficientLiquidityError):
        pool.swap(D(1), a_to_b=True)
    with pytest.raises(InsufficientLiquidityError):
        pool.swap(D(303), a_to_b=False)  # 302.24… after the fee
    drained = pool.swap(D(302), a_to_b=False)  # 301.245 after the fee: fits
    assert as_dlmm(drained.pool_after).active_price == D(101)


def test_dlmm_big_pool_runs_out_past_its_depth() -> None:
    pool = as_dlmm(dlmm_pool())
    depth = pool.depth_in(a_to_b=True)
    assert depth > D(1_000_000) / 150  # the lower bins sell B cheaper
    pool.swap(depth, a_to_b=True)
    with pytest.raises(InsufficientLiquidityError):
        pool.swap(depth / D("0.998") * D("1.0001"), a_to_b=True)


def test_dlmm_repriced_keeps_the_shape_and_halves_volatility() -> None:
    pool = as_dlmm(as_dlmm(dlmm_pool()).swap(D(2000), a_to_b=True).pool_after)
    moved = pool.repriced(D(170))
    assert moved.active_price == D(170) and moved.version == pool.version + 1
    assert moved.volatility == pool.volatility / 2
    assert [b.offset for b in moved.bins] == [b.offset for b in pool.bins]
    for old, new in zip(pool.bins, moved.bins, strict=True):
        old_value = old.value_b(pool.bin_price(old.offset))
        assert abs(new.value_b(moved.bin_price(new.offset)) - old_value) < D("1e-25")
    tiny = moved.swap(D("0.001"), a_to_b=True)
    assert tiny.price_impact == 0
    with localcontext(P40):
        assert tiny.amount_out == D("0.001") * (1 - moved.fee_rate) * 170


# ---- both pools --------------------------------------------------------------------------


@BOTH
@DIRECTIONS
def test_more_input_gets_more_output_at_a_worse_price(
    make: Callable[[], Pool], a_to_b: bool
) -> None:
    pool = make()
    depth = pool.depth_in(a_to_b=a_to_b)
    results = [pool.swap(depth * f, a_to_b=a_to_b) for f in FRACTIONS]
    strict = isinstance(pool, ConstantProductPool)
    for small, big in itertools.pairwise(results):
        assert big.amount_out > small.amount_out
        assert average_price(big) <= average_price(small)
        assert big.price_impact >= small.price_impact
        if strict:
            assert average_price(big) < average_price(small)
            assert big.price_impact > small.price_impact
    assert average_price(results[-1]) < average_price(results[0])
    assert results[-1].price_impact > results[0].price_impact
    assert all(0 <= r.price_impact < 1 for r in results)


def average_price(result: SwapResult) -> Decimal:
    return result.amount_out / result.amount_in


@BOTH
@DIRECTIONS
@pytest.mark.parametrize("fraction", [D("1e-6"), D("0.01"), D("0.5")])
def test_round_trip_returns_less_than_went_in(
    make: Callable[[], Pool], a_to_b: bool, fraction: Decimal
) -> None:
    pool = make()
    amount = pool.depth_in(a_to_b=a_to_b) * fraction
    there = pool.swap(amount, a_to_b=a_to_b)
    back = there.pool_after.swap(there.amount_out, a_to_b=not a_to_b)
    assert back.amount_out < amount
    assert back.pool_after.version == 2


@BOTH
@pytest.mark.parametrize("amount", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_swap_rejects_a_non_positive_amount(make: Callable[[], Pool], amount: Decimal) -> None:
    with pytest.raises(ValueError, match="amount_in") as caught:
        make().swap(amount, a_to_b=True)
    assert caught.type is ValueError


@BOTH
def test_version_counts_swaps_and_reprices(make: Callable[[], Pool]) -> None:
    pool = make()
    swapped = pool.swap(D(1), a_to_b=True).pool_after
    repriced = swapped.repriced(D(155))
    assert (pool.version, swapped.version, repriced.version) == (0, 1, 2)
    assert abs(repriced.mid_price - D(155)) < TOL


@BOTH
def test_pools_are_immutable(make: Callable[[], Pool]) -> None:
    pool = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.version = 9  # type: ignore[misc]


@BOTH
def test_pool_math_ignores_and_keeps_the_callers_context(make: Callable[[], Pool]) -> None:
    pool = make()
    expected = pool.swap(D("12.5"), a_to_b=False)
    with localcontext(Context(prec=6)) as caller:
        result = pool.swap(D("12.5"), a_to_b=False)
        assert caller.prec == 6
    assert result.amount_out == expected.amount_out
    assert len(result.amount_out.as_tuple().digits) == 40


@pytest.mark.parametrize(
    "build",
    [
        lambda: ConstantProductPool(D(0), D(1), D(0)),
        lambda: ConstantProductPool(D(1), D(1), D(1)),
        lambda: ConstantProductPool.from_depth(D(-1), D(1), D(0)),
        lambda: dataclasses.replace(tiny_dlmm(), bins=(Bin(1, D(1), D(1)),)),
        lambda: dataclasses.replace(tiny_dlmm(), bins=(Bin(-1, D(1), D(0)),)),
        lambda: dataclasses.replace(tiny_dlmm(), bins=(Bin(1, D(1), D(0)), Bin(0, D(1), D(0)))),
        lambda: dataclasses.replace(tiny_dlmm(), base_fee=D("0.2")),
        lambda: dataclasses.replace(tiny_dlmm(), bin_step_bps=0),
        lambda: tiny_dlmm().repriced(D(0)),
    ],
)
def test_invalid_pools_are_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()
