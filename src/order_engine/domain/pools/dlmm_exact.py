"""Meteora DLMM's exact swap math, to the base unit: what `swap` delivers for an exact input.

A port of dlmm-sdk `commons/src/quote.rs::quote_exact_in` with the pieces it calls
(`LbPair::update_references`, `update_volatility_accumulator`, `compute_fee`,
`compute_fee_from_amount`, `Bin::swap`, `u64x64_math::pow`), in Python integers:

* before the walk, references move once: after `filter_period` seconds without a swap the
  reference bin becomes the active one and the volatility reference decays
  (× reduction_factor / 10⁴), after `decay_period` it resets to 0;
* in every bin the swap reaches, volatility = min(reference + |reference bin − bin| × 10⁴,
  max) and the fee rate = min(base + ceil(vfc × (volatility × bin_step)² / 10¹¹), 10⁸),
  out of 10⁹, with base = base_factor × bin_step × 10 × 10^power;
* a bin is filled whole when the input left exceeds its capacity plus the fee on top
  (ceil(in × rate / (10⁹ − rate))); otherwise the fee is ceil(left × rate / 10⁹) and the
  rest buys floor(left × price) (Q64.64 price, X priced in Y).

Scope: plain SPL mints (no transfer fee), collect_fee_mode 0 (fee on the input), bins
without limit orders. Everything is pure standard library: states are frozen and
quoting never changes them, so one state can be quoted for many amounts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from order_engine.domain.pools.base import InsufficientLiquidityError

SCALE_OFFSET: Final = 64
ONE_Q64: Final = 1 << SCALE_OFFSET
U64_MAX: Final = (1 << 64) - 1
U128_MAX: Final = (1 << 128) - 1
BASIS_POINT_MAX: Final = 10_000
FEE_PRECISION: Final = 1_000_000_000
MAX_FEE_RATE: Final = 100_000_000
MAX_EXPONENT: Final = 0x80000
VARIABLE_FEE_SCALE: Final = 100_000_000_000

BinAmounts = tuple[int, int, int]  # (amount_x, amount_y, price_q64); price 0 = not stored yet


@dataclass(frozen=True, slots=True)
class DlmmPairState:
    """What a quote needs of an LbPair, plus the loaded bins (bin id -> BinAmounts)."""

    base_factor: int
    filter_period: int
    decay_period: int
    reduction_factor: int
    variable_fee_control: int
    max_volatility_accumulator: int
    protocol_share: int
    base_fee_power_factor: int
    collect_fee_mode: int
    volatility_accumulator: int
    volatility_reference: int
    index_reference: int
    last_update_timestamp: int
    active_id: int
    bin_step: int
    bins: Mapping[int, BinAmounts] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bins", MappingProxyType(dict(self.bins)))

    def with_bins(self, bins: Mapping[int, BinAmounts]) -> DlmmPairState:
        """The same pair with these bins loaded (replacing the current ones)."""
        return replace(self, bins=bins)


@dataclass(frozen=True, slots=True)
class DlmmSwap:
    """One exact-input quote: output, fees (input units) and where the active bin ends."""

    amount_out: int
    fee: int
    end_active_id: int
    bins_crossed: int  # |end_active_id − start active_id|
    protocol_fee: int = 0  # the protocol's share of `fee`, summed per bin as the program does


def q64_pow(base: int, exp: int) -> int:
    """`u64x64_math::pow`: base^exp in Q64.64, bit for bit. ValueError when out of range."""
    if exp == 0:
        return ONE_Q64
    invert = exp < 0
    e = abs(exp)
    if e >= MAX_EXPONENT:
        raise ValueError(f"exponent {exp} is out of the Q64.64 range")
    squared, result = base, ONE_Q64
    if squared >= result:
        squared = U128_MAX // squared
        invert = not invert
    for bit in range(19):
        if bit:
            squared = (squared * squared) >> SCALE_OFFSET
        if e & (1 << bit):
            result = (result * squared) >> SCALE_OFFSET
    if result == 0:
        raise ValueError(f"{base}^{exp} underflows Q64.64")
    return U128_MAX // result if invert else result


def price_q64_from_id(bin_id: int, bin_step: int) -> int:
    """`get_price_from_id`: (1 + bin_step / 10⁴)^bin_id in Q64.64 (Y base units per X)."""
    return q64_pow(ONE_Q64 + (bin_step << SCALE_OFFSET) // BASIS_POINT_MAX, bin_id)


def bin_price_q64(state: DlmmPairState, bin_id: int) -> int:
    """A bin's price: the one stored in the bin, else the one computed from its id."""
    stored = state.bins.get(bin_id, (0, 0, 0))[2]
    return stored or price_q64_from_id(bin_id, state.bin_step)


def mid_price_q64(state: DlmmPairState) -> int:
    """The active bin's Q64.64 price."""
    return bin_price_q64(state, state.active_id)


def mid_price(state: DlmmPairState) -> Fraction:
    """The active bin's price, exactly: Y base units per X base unit."""
    return Fraction(mid_price_q64(state), ONE_Q64)


def active_id_for_price(price_per_base_unit: Decimal | Fraction, bin_step: int) -> int:
    """The bin whose price is nearest (in log terms) to Y base units per X base unit.

    A float logarithm guesses; the exact Q64.64 bin prices then decide: the bracketing
    bins i, i+1 are found exactly and the price picks the one on its side of their
    geometric midpoint (ties go up).
    """
    target = Fraction(price_per_base_unit)
    if target <= 0 or bin_step <= 0:
        raise ValueError(f"need a price > 0 and bin_step > 0, got {target}, {bin_step}")
    log_target = math.log(target.numerator) - math.log(target.denominator)
    i = math.floor(log_target / math.log1p(bin_step / BASIS_POINT_MAX))
    scaled = target * ONE_Q64
    while price_q64_from_id(i, bin_step) > scaled:
        i -= 1
    while price_q64_from_id(i + 1, bin_step) <= scaled:
        i += 1
    lower, upper = price_q64_from_id(i, bin_step), price_q64_from_id(i + 1, bin_step)
    return i if scaled * scaled < lower * upper else i + 1


def volatility_references(state: DlmmPairState, now_unix: int) -> tuple[int, int]:
    """`update_references`: the (index_reference, volatility_reference) a swap now uses."""
    elapsed = now_unix - state.last_update_timestamp
    if elapsed < state.filter_period:
        return state.index_reference, state.volatility_reference
    if elapsed < state.decay_period:
        decayed = state.volatility_accumulator * state.reduction_factor // BASIS_POINT_MAX
        return state.active_id, decayed
    return state.active_id, 0


def fee_rate(state: DlmmPairState, volatility_accumulator: int) -> int:
    """Base plus variable fee rate (out of 10⁹), capped at 10%."""
    power: int = 10**state.base_fee_power_factor
    base = state.base_factor * state.bin_step * 10 * power
    variable = 0
    if state.variable_fee_control > 0:
        squared = (volatility_accumulator * state.bin_step) ** 2
        variable = -(-state.variable_fee_control * squared // VARIABLE_FEE_SCALE)
    return min(base + variable, MAX_FEE_RATE)


def fee_on_top(amount: int, rate: int) -> int:
    """`compute_fee`: the fee to add to a net `amount`, rounded up."""
    return -(-amount * rate // (FEE_PRECISION - rate))


def fee_from_amount(amount_with_fee: int, rate: int) -> int:
    """`compute_fee_from_amount`: the fee inside a gross amount, rounded up."""
    return -(-amount_with_fee * rate // FEE_PRECISION)


def quote_exact_in(
    state: DlmmPairState, amount_in: int, swap_for_y: bool, now_unix: int
) -> DlmmSwap:
    """What `swap` delivers for exactly `amount_in` at time `now_unix` (seconds).

    `swap_for_y` sells X for Y (walking bins down). Raises `InsufficientLiquidityError`
    when the walk leaves the loaded bins before the input is used up, or when the output
    rounds to 0 (the program refuses that swap: InsufficientOutAmount).
    """
    return _walk(state, amount_in, swap_for_y, now_unix)[0]


def after_swap(
    state: DlmmPairState, amount_in: int, swap_for_y: bool, now_unix: int
) -> DlmmPairState:
    """The pair as a swap of `amount_in` at `now_unix` leaves it, for quoting a later swap
    in the same direction at the same time: the bins it emptied or took from, its active
    bin, and the references it used (a later swap within `filter_period` keeps them). The
    input side of each bin grows by the input net of fees (the program's fee bookkeeping,
    which a quote in the same direction does not read, is not modelled)."""
    swap, changed, references = _walk(state, amount_in, swap_for_y, now_unix)
    index_reference, volatility_reference = references
    volatility = min(
        volatility_reference + abs(index_reference - swap.end_active_id) * BASIS_POINT_MAX,
        state.max_volatility_accumulator,
    )
    return replace(
        state,
        bins={**state.bins, **changed},
        active_id=swap.end_active_id,
        index_reference=index_reference,
        volatility_reference=volatility_reference,
        volatility_accumulator=volatility,
        last_update_timestamp=now_unix,
    )


def _walk(
    state: DlmmPairState, amount_in: int, swap_for_y: bool, now_unix: int
) -> tuple[DlmmSwap, dict[int, BinAmounts], tuple[int, int]]:
    """The swap, the bins it changed (their amounts after it) and the references it used."""
    if not 0 < amount_in <= U64_MAX:
        raise ValueError(f"amount_in must be in [1, 2^64), got {amount_in}")
    if state.collect_fee_mode != 0:
        raise ValueError(f"collect_fee_mode {state.collect_fee_mode} is not supported")
    index_reference, volatility_reference = volatility_references(state, now_unix)
    left, out, fee, protocol_fee = amount_in, 0, 0, 0
    active, step = state.active_id, (-1 if swap_for_y else 1)
    changed: dict[int, BinAmounts] = {}
    while True:
        if active not in state.bins:
            raise InsufficientLiquidityError(f"the swap walked past the loaded bins at {active}")
        volatility = min(
            volatility_reference + abs(index_reference - active) * BASIS_POINT_MAX,
            state.max_volatility_accumulator,
        )
        used, got, bin_fee = _swap_in_bin(state, active, left, swap_for_y, volatility)
        if used:
            changed[active] = _bin_after(state.bins[active], used - bin_fee, got, swap_for_y)
        left, out, fee = left - used, out + got, fee + bin_fee
        protocol_fee += bin_fee * state.protocol_share // BASIS_POINT_MAX
        if left == 0:
            break
        active += step
    if out == 0:
        raise InsufficientLiquidityError(f"{amount_in} in buys 0 out")
    swap = DlmmSwap(out, fee, active, abs(active - state.active_id), protocol_fee)
    return swap, changed, (index_reference, volatility_reference)


def _bin_after(amounts: BinAmounts, net_in: int, got: int, swap_for_y: bool) -> BinAmounts:
    amount_x, amount_y, price = amounts
    if swap_for_y:
        return amount_x + net_in, amount_y - got, price
    return amount_x - got, amount_y + net_in, price


def _swap_in_bin(
    state: DlmmPairState, bin_id: int, amount_in: int, swap_for_y: bool, volatility: int
) -> tuple[int, int, int]:
    """`Bin::swap`: (input used with fee, output, fee) in one bin; zeros if it is empty."""
    amount_x, amount_y, _ = state.bins[bin_id]
    max_out = amount_y if swap_for_y else amount_x
    if max_out == 0:
        return 0, 0, 0
    price = bin_price_q64(state, bin_id)
    rate = fee_rate(state, volatility)
    if swap_for_y:  # X in, Y out: in = ceil(out × 2^64 / price)
        max_in = -(-(max_out << SCALE_OFFSET) // price)
    else:  # Y in, X out: in = ceil(out × price / 2^64)
        max_in = -(-(max_out * price) >> SCALE_OFFSET)
    max_fee = fee_on_top(max_in, rate)
    if amount_in > max_in + max_fee:
        return max_in + max_fee, max_out, max_fee
    fee = fee_from_amount(amount_in, rate)
    net = amount_in - fee
    out = (price * net) >> SCALE_OFFSET if swap_for_y else (net << SCALE_OFFSET) // price
    return amount_in, min(out, max_out), fee
