"""Raydium CPMM's exact swap math, to the base unit: what `swap_base_input` delivers.

A port of raydium-cp-swap's `CurveCalculator::swap` (git 183ddbb) in integers:

    trade_fee = ceil(amount_in × trade_fee_rate / 1e6)      taken from the input
    dx        = amount_in − trade_fee
    out       = floor(dx × y / (x + dx))

where x, y are the input and output vault balances minus the protocol and fund fees that
accrued in them (`PoolState.protocol_fees_token_*` + `fund_fees_token_*`). The protocol
and fund cuts are floor(trade_fee × rate / 1e6): they stay in the input vault but stop
counting as liquidity. Rates are out of 1,000,000. Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from order_engine.domain.pools.base import InsufficientLiquidityError

FEE_RATE_DENOMINATOR: Final = 1_000_000
U64_MAX: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class CpmmSwap:
    """One exact-input swap: what the user receives and the fee parts (input units)."""

    amount_out: int
    trade_fee: int  # the whole fee, included in amount_in
    protocol_fee: int = 0  # the protocol's part of trade_fee
    fund_fee: int = 0  # the fund's part of trade_fee


def trading_fee(amount_in: int, trade_fee_rate: int) -> int:
    """The trade fee on `amount_in`, rounded up."""
    return -(-amount_in * trade_fee_rate // FEE_RATE_DENOMINATOR)


def swap_base_input(
    amount_in: int,
    reserve_in: int,
    reserve_out: int,
    trade_fee_rate: int,
    *,
    protocol_fee_rate: int = 0,
    fund_fee_rate: int = 0,
) -> CpmmSwap:
    """The exact output of selling `amount_in` into reserves (x=reserve_in, y=reserve_out).

    Reserves are vault balances minus accrued protocol and fund fees. Raises
    `InsufficientLiquidityError` when a reserve is empty or the output rounds to 0 (the
    program refuses such a swap), `ValueError` on an amount or rate out of range.
    """
    _check_u64(amount_in, "amount_in", minimum=1)
    for rate, name in (
        (trade_fee_rate, "trade_fee_rate"),
        (protocol_fee_rate, "protocol_fee_rate"),
        (fund_fee_rate, "fund_fee_rate"),
    ):
        if not 0 <= rate < FEE_RATE_DENOMINATOR:
            raise ValueError(f"{name} must be in [0, {FEE_RATE_DENOMINATOR}), got {rate}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidityError(f"empty pool: reserves {reserve_in}/{reserve_out}")
    fee = trading_fee(amount_in, trade_fee_rate)
    dx = amount_in - fee
    amount_out = dx * reserve_out // (reserve_in + dx)
    if amount_out <= 0:
        raise InsufficientLiquidityError(f"{amount_in} in buys 0 out of {reserve_out}")
    return CpmmSwap(
        amount_out=amount_out,
        trade_fee=fee,
        protocol_fee=fee * protocol_fee_rate // FEE_RATE_DENOMINATOR,
        fund_fee=fee * fund_fee_rate // FEE_RATE_DENOMINATOR,
    )


def _check_u64(value: int, name: str, *, minimum: int = 0) -> None:
    if not minimum <= value <= U64_MAX:
        raise ValueError(f"{name} must be in [{minimum}, 2^64), got {value}")
