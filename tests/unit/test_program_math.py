"""The pure exact math of Raydium CPMM and Meteora DLMM: hand-checked values, the Q64.64
power, rounding edges and immutability. (The contract suite checks the same functions
against the real program binaries.)"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest

from order_engine.domain.pools import InsufficientLiquidityError
from order_engine.domain.pools.cpmm_exact import CpmmSwap, swap_base_input, trading_fee
from order_engine.domain.pools.dlmm_exact import (
    MAX_FEE_RATE,
    ONE_Q64,
    DlmmPairState,
    DlmmSwap,
    active_id_for_price,
    fee_on_top,
    fee_rate,
    mid_price,
    mid_price_q64,
    price_q64_from_id,
    q64_pow,
    quote_exact_in,
    volatility_references,
)

SOL, USDC = 10**9, 10**6

# ---------------------------------------------------------------- Raydium CPMM


def test_cpmm_first_swap_of_a_fresh_pool() -> None:
    """1 SOLX into 1000 SOLX / 150,000 USDC at 0.25% (12% protocol, 4% fund): the program
    delivered 149.475897 USDC."""
    swap = swap_base_input(
        SOL, 1000 * SOL, 150_000 * USDC, 2500, protocol_fee_rate=120_000, fund_fee_rate=40_000
    )
    assert swap == CpmmSwap(149_475_897, 2_500_000, 300_000, 100_000)


def test_cpmm_output_rounds_down() -> None:
    # 100 × 1000 / 1100 = 90.9…
    assert swap_base_input(100, 1000, 1000, 0).amount_out == 90
    # fee ceil(1000 × 0.3%) = 3, then 997 × 5000 / 10997 = 453.3…
    assert swap_base_input(1000, 10_000, 5000, 3000) == CpmmSwap(453, 3)


@pytest.mark.parametrize(
    ("amount", "fee"), [(1, 1), (399, 1), (400, 1), (401, 2), (800, 2), (801, 3)]
)
def test_cpmm_fee_rounds_up(amount: int, fee: int) -> None:
    assert trading_fee(amount, 2500) == fee


def test_cpmm_fee_parts_round_down() -> None:
    swap = swap_base_input(10_001, 10**9, 10**9, 2500, protocol_fee_rate=120_000)
    assert swap.trade_fee == 26  # ceil(25.0025)
    assert (swap.protocol_fee, swap.fund_fee) == (3, 0)  # floor(3.12), no fund rate


def test_cpmm_dust_and_empty_pools_are_insufficient_liquidity() -> None:
    with pytest.raises(InsufficientLiquidityError):
        swap_base_input(1, 10**12, 10**12, 2500)  # the fee eats the whole input
    with pytest.raises(InsufficientLiquidityError):
        swap_base_input(10, 10**12, 5, 0)  # 10 × 5 / 10¹² rounds to 0
    with pytest.raises(InsufficientLiquidityError):
        swap_base_input(10**9, 0, 10**9, 2500)
    with pytest.raises(InsufficientLiquidityError):
        swap_base_input(10**9, 10**9, 0, 2500)


@pytest.mark.parametrize(
    ("amount", "rate"), [(0, 2500), (-1, 2500), (2**64, 2500), (10, -1), (10, 1_000_000)]
)
def test_cpmm_rejects_amounts_and_rates_out_of_range(amount: int, rate: int) -> None:
    with pytest.raises(ValueError, match="must be in"):
        swap_base_input(amount, 10**9, 10**9, rate)


# ---------------------------------------------------------------- DLMM prices


@pytest.mark.parametrize(
    ("bin_id", "price"),
    [
        (-1928, 2_685_457_863_211_516_621),
        (-1898, 2_767_200_750_216_550_409),
        (-1891, 2_786_629_363_632_757_225),
        (-1890, 2_789_415_992_996_389_982),
        (-1868, 2_851_431_816_115_565_016),
    ],
)
def test_price_from_id_is_bit_exact_with_the_program(bin_id: int, price: int) -> None:
    """Prices the real program stored in its bins (bin step 10)."""
    assert price_q64_from_id(bin_id, 10) == price


@pytest.mark.parametrize("bin_step", [1, 10, 25, 100])
def test_price_from_id_is_close_to_the_exact_power(bin_step: int) -> None:
    """Within 10⁻¹² for prices between 10⁻⁶ and 10⁶ (below, Q64.64 runs out of bits)."""
    for bin_id in range(-3000, 3001, 271):
        exact = Fraction(10_000 + bin_step, 10_000) ** bin_id
        if not Fraction(1, 10**6) < exact < 10**6:
            continue
        got = Fraction(price_q64_from_id(bin_id, bin_step), ONE_Q64)
        assert abs(got / exact - 1) < Fraction(1, 10**12), (bin_step, bin_id)


def test_q64_pow_edges() -> None:
    base = ONE_Q64 + (10 << 64) // 10_000
    assert q64_pow(base, 0) == ONE_Q64
    assert abs(q64_pow(base, 1) - base) <= 1
    assert q64_pow(base, -1) < ONE_Q64 < q64_pow(base, 1)
    with pytest.raises(ValueError, match=r"out of the Q64\.64 range"):
        q64_pow(base, 0x80000)
    with pytest.raises(ValueError, match="underflows"):
        q64_pow(ONE_Q64 * 2, -200)


def test_active_id_for_price() -> None:
    """150 USDC per SOLX = 0.15 USDC base units per SOLX base unit ≈ 1.001^-1898."""
    assert active_id_for_price(Fraction(15, 100), 10) == -1898
    assert active_id_for_price(Decimal("0.15"), 10) == -1898
    assert active_id_for_price(Fraction(1), 10) == 0
    assert active_id_for_price(Fraction(10**6), 1) == 138_162  # ln(1e6) / ln(1.0001) = 138162.01


def test_active_id_for_price_splits_at_the_geometric_midpoint() -> None:
    low, high = (Fraction(price_q64_from_id(i, 10), ONE_Q64) for i in (-1898, -1897))
    for price in (low, low * Fraction(1_000_001, 10**6)):
        assert active_id_for_price(price, 10) == -1898
    for price in (high, high * Fraction(999_999, 10**6)):
        assert active_id_for_price(price, 10) == -1897
    geometric_mid_squared = low * high
    just_below = low + (high - low) * Fraction(4999, 10_000)  # below the arithmetic mid
    assert just_below**2 > geometric_mid_squared  # …yet above the geometric one
    assert active_id_for_price(just_below, 10) == -1897


@pytest.mark.parametrize("price", [Fraction(0), Fraction(-1)])
def test_active_id_for_price_rejects_non_positive_prices(price: Fraction) -> None:
    with pytest.raises(ValueError, match="price > 0"):
        active_id_for_price(price, 10)


# ---------------------------------------------------------------- DLMM fees and quotes


def pair(bins: dict[int, tuple[int, int, int]], **changes: int) -> DlmmPairState:
    """Bin step 10, base fee 0.1%, no variable fee unless changed; references at bin 0."""
    fields = dict(
        base_factor=10_000,
        filter_period=30,
        decay_period=600,
        reduction_factor=5000,
        variable_fee_control=0,
        max_volatility_accumulator=350_000,
        protocol_share=500,
        base_fee_power_factor=0,
        collect_fee_mode=0,
        volatility_accumulator=0,
        volatility_reference=0,
        index_reference=0,
        last_update_timestamp=1000,
        active_id=0,
        bin_step=10,
    )
    fields.update(changes)
    return DlmmPairState(**fields, bins=bins)


def test_fee_rate_base_variable_and_cap() -> None:
    state = pair({}, variable_fee_control=40_000)
    assert fee_rate(state, 0) == 1_000_000  # 10000 × 10 × 10 = 0.1% of 1e9
    assert fee_rate(state, 350_000) == 1_000_000 + 4_900_000  # 4e4 × (3.5e6)² / 1e11
    assert fee_rate(pair({}, variable_fee_control=1, bin_step=1, base_factor=0), 1) == 1  # ceil
    assert fee_rate(pair({}, variable_fee_control=10**9), 350_000) == MAX_FEE_RATE
    assert fee_rate(pair({}, base_fee_power_factor=1), 0) == 10_000_000


def test_fee_on_top_rounds_up() -> None:
    assert fee_on_top(1000, 1_000_000) == 2  # 1000 × 1e6 / 999e6 = 1.001…
    assert fee_on_top(999, 1_000_000) == 1  # 0.99999…


@pytest.mark.parametrize(
    ("elapsed", "references"),
    [(0, (-7, 20_000)), (29, (-7, 20_000)), (30, (3, 45_000)), (599, (3, 45_000)), (600, (3, 0))],
)
def test_references_follow_the_filter_and_decay_windows(
    elapsed: int, references: tuple[int, int]
) -> None:
    state = pair(
        {},
        active_id=3,
        index_reference=-7,
        volatility_reference=20_000,
        volatility_accumulator=90_000,
    )
    assert volatility_references(state, 1000 + elapsed) == references


def test_quote_in_one_bin_takes_the_fee_from_the_input() -> None:
    state = pair({0: (0, 1000, ONE_Q64)})
    assert quote_exact_in(state, 100, True, 1000) == DlmmSwap(99, 1, 0, 0, 0)
    # Y in for X at 2 Y per X: fee ceil(0.1) = 1, then 99 / 2 rounds down
    state = pair({0: (1000, 0, 2 * ONE_Q64)})
    assert quote_exact_in(state, 100, False, 1000).amount_out == 49


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1001, DlmmSwap(999, 2, 0, 0, 0)),  # fee ceil(1.001) = 2
        (1002, DlmmSwap(1000, 2, 0, 0, 0)),  # exactly the bin plus fee on top: stays
        (1003, DlmmSwap(1000, 3, -1, 1, 0)),  # one more: the bin fills, 1 left pays a fee
        (1004, DlmmSwap(1001, 3, -1, 1, 0)),
    ],
)
def test_quote_bin_capacity_edge(amount: int, expected: DlmmSwap) -> None:
    state = pair({0: (0, 1000, ONE_Q64), -1: (0, 1000, ONE_Q64)})
    assert quote_exact_in(state, amount, True, 1000) == expected


def test_quote_variable_fee_grows_with_the_bins_crossed() -> None:
    """Rates 0.1%, 0.1004%, 0.1016% in bins 0, −1, −2 (vfc 40000, bin step 10)."""
    bins = {b: (0, 1000, ONE_Q64) for b in (0, -1, -2)}
    state = pair(bins, variable_fee_control=40_000)
    # bin 0: 1000 + fee 2; bin −1: 1000 + fee ceil(1.00501) = 2; bin −2: 496 pays ceil(0.504)
    assert quote_exact_in(state, 2500, True, 1000) == DlmmSwap(2495, 5, -2, 2, 0)


def test_quote_protocol_share_is_taken_per_bin() -> None:
    state = pair({0: (0, 10**9, ONE_Q64)}, protocol_share=500)
    swap = quote_exact_in(state, 10**6, True, 1000)
    assert (swap.fee, swap.protocol_fee) == (1000, 50)


def test_quote_skips_empty_bins_and_computes_unstored_prices() -> None:
    state = pair({0: (5, 0, 0), -1: (0, 0, 0), -2: (0, 10**6, 0)})
    swap = quote_exact_in(state, 10_000, True, 1000)
    price = price_q64_from_id(-2, 10)
    assert swap.end_active_id == -2
    assert swap.amount_out == (10_000 - 10) * price >> 64


def test_quote_runs_out_of_loaded_bins_or_buys_nothing() -> None:
    state = pair({0: (0, 1000, ONE_Q64)})
    with pytest.raises(InsufficientLiquidityError, match="past the loaded bins"):
        quote_exact_in(state, 5000, True, 1000)
    with pytest.raises(InsufficientLiquidityError, match="buys 0"):
        quote_exact_in(state, 1, True, 1000)


def test_quote_rejects_bad_input() -> None:
    state = pair({0: (0, 1000, ONE_Q64)})
    with pytest.raises(ValueError, match="amount_in"):
        quote_exact_in(state, 0, True, 1000)
    with pytest.raises(ValueError, match="collect_fee_mode"):
        quote_exact_in(pair({0: (0, 1000, ONE_Q64)}, collect_fee_mode=1), 10, True, 1000)


def test_quote_never_changes_the_state() -> None:
    bins = {b: (10**6, 10**6, 0) for b in range(-5, 6)}
    state = pair(bins, variable_fee_control=40_000, volatility_accumulator=30_000)
    before = dataclasses.replace(state)
    first = quote_exact_in(state, 3 * 10**6, True, 5000)
    assert quote_exact_in(state, 3 * 10**6, True, 5000) == first
    assert state == before and state.bins == bins
    bins[0] = (0, 0, 0)  # the caller's dict is copied, not shared
    assert state.bins[0] == (10**6, 10**6, 0)
    with pytest.raises(TypeError):
        state.bins[0] = (1, 1, 1)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.active_id = 1  # type: ignore[misc]


def test_mid_price_is_the_active_bins_price() -> None:
    state = pair({0: (1, 1, 3 * ONE_Q64 // 2)})
    assert mid_price_q64(state) == 3 * ONE_Q64 // 2
    assert mid_price(state) == Fraction(3, 2)
    assert mid_price(pair({}, active_id=-1898)) == Fraction(2_767_200_750_216_550_409, ONE_Q64)
