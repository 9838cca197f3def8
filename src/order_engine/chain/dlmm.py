"""Meteora DLMM (lb_clmm, mainnet-id build, IDL 0.12.0): addresses, instructions and the
LbPair / BinArray layouts, decoded into the pure `domain.pools.dlmm_exact` state.

`initialize_preset_parameter` is admin-only, so a local genesis writes PresetParameter2
with `preset_parameter2_bytes`; pairs, bin arrays, positions and liquidity then go through
the real instructions. Optional Anchor accounts left empty are passed as the program id.
Offsets are the IDL's (bytemuck structs with explicit padding); the contract tests check
them against `dlmm_idl.json`.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from order_engine.chain.spl import (
    RENT_SYSVAR,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    anchor_account_discriminator,
    anchor_ix_discriminator,
    readonly,
    signer,
    writable,
)
from order_engine.domain.pools.dlmm_exact import BinAmounts, DlmmPairState
from order_engine.domain.pools.dlmm_exact import active_id_for_price as _active_id_for_price

LbPairState = DlmmPairState  # a decoded LbPair is the pure quote state

DLMM_PROGRAM: Final = Pubkey.from_string("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo")
ERR_EXCEEDED_AMOUNT_SLIPPAGE: Final = 6003
ERR_INSUFFICIENT_OUT_AMOUNT: Final = 6039  # the input buys 0 out
# a swap that runs out of the bins it was given or of the pair's liquidity on its side:
# BinArrayNotFound, PairInsufficientLiquidity, BitmapExtensionAccountIsNotProvided (its
# search for liquid bins left the pair's own bitmap), CannotFindNonZeroLiquidityBinArrayId
ERRS_OUT_OF_LIQUIDITY: Final = frozenset({6009, 6012, 6036, 6037})
BINS_PER_ARRAY: Final = 70
STRATEGY_SPOT_BALANCED: Final = 3
PRESET_PARAMETER2_SIZE: Final = 8 + 184

# Byte offsets (discriminator included) checked against the IDL by the contract tests.
LB_PAIR_OFFSETS: Final = {
    "parameters": 8,
    "v_parameters": 40,
    "active_id": 76,
    "bin_step": 80,
    "protocol_fee": 216,
    "activation_point": 816,
}
BIN_ARRAY_BINS_OFFSET: Final = 56
BIN_SIZE: Final = 144
BIN_OFFSETS: Final = {"amount_x": 0, "price": 16, "open_order_amount": 112}  # in a Bin

_STATIC = struct.Struct("<HHHHIIiiHBBB")  # StaticParameters @8
_VARIABLE = struct.Struct("<IIi4xq")  # VariableParameters @40
_BIN_HEAD = struct.Struct("<QQQQ")  # amount_x, amount_y, price (lo, hi)
_BIN_LIMIT_ORDERS = struct.Struct("<QQQ")  # open, total processing, processed remaining
_LB_PAIR_DISC: Final = anchor_account_discriminator("LbPair")
_BIN_ARRAY_DISC: Final = anchor_account_discriminator("BinArray")


def _pda(*seeds: bytes) -> Pubkey:
    return Pubkey.find_program_address(list(seeds), DLMM_PROGRAM)[0]


EVENT_AUTHORITY: Final = _pda(b"__event_authority")


def preset_parameter2_address(index: int) -> Pubkey:
    """The PresetParameter2 PDA: ["preset_parameter2", index as little-endian u16]."""
    return _pda(b"preset_parameter2", struct.pack("<H", index))


def preset_parameter2_bytes(
    bin_step: int,
    base_factor: int,
    filter_period: int,
    decay_period: int,
    variable_fee_control: int,
    max_volatility_accumulator: int,
    reduction_factor: int,
    protocol_share: int,
    index: int,
) -> bytes:
    """The 192 bytes of a PresetParameter2 (power factor 0, no function, fee on input)."""
    head = (
        anchor_account_discriminator("PresetParameter2")
        + struct.pack("<HHHH", bin_step, base_factor, filter_period, decay_period)
        + struct.pack("<II", variable_fee_control, max_volatility_accumulator)
        + struct.pack("<HHH", reduction_factor, protocol_share, index)
        + bytes(3)  # base_fee_power_factor, concrete_function_type, collect_fee_mode: all 0
    )
    return head + bytes(PRESET_PARAMETER2_SIZE - len(head))


def active_id_for_price(price_per_base_unit: Decimal | Fraction, bin_step: int) -> int:
    """The bin nearest a price in Y base units per X base unit (exact; see dlmm_exact)."""
    return _active_id_for_price(price_per_base_unit, bin_step)


def bin_array_index(bin_id: int) -> int:
    """The bin array holding a bin: floor(bin_id / 70), also for negative ids."""
    return bin_id // BINS_PER_ARRAY


@functools.lru_cache(maxsize=16_384)  # a program-address search per call otherwise
def bin_array_address(lb_pair: Pubkey, index: int) -> Pubkey:
    """The BinArray PDA: ["bin_array", lb_pair, index as little-endian i64]."""
    return _pda(b"bin_array", bytes(lb_pair), struct.pack("<q", index))


@dataclass(frozen=True, slots=True)
class DlmmPairKeys:
    """Every address of one pair created by `initialize_lb_pair2` from a preset."""

    lb_pair: Pubkey
    preset: Pubkey | None  # None for a pair read off the chain (`pool_accounts`)
    mint_x: Pubkey
    mint_y: Pubkey
    reserve_x: Pubkey
    reserve_y: Pubkey
    oracle: Pubkey
    event_authority: Pubkey

    @classmethod
    def derive(cls, preset: Pubkey, mint_x: Pubkey, mint_y: Pubkey) -> DlmmPairKeys:
        """X is the base (priced in Y); the pair address sorts the mints by raw bytes."""
        low, high = sorted((mint_x, mint_y), key=bytes)
        lb_pair = _pda(bytes(preset), bytes(low), bytes(high))
        return cls(
            lb_pair=lb_pair,
            preset=preset,
            mint_x=mint_x,
            mint_y=mint_y,
            reserve_x=_pda(bytes(lb_pair), bytes(mint_x)),
            reserve_y=_pda(bytes(lb_pair), bytes(mint_y)),
            oracle=_pda(b"oracle", bytes(lb_pair)),
            event_authority=EVENT_AUTHORITY,
        )


def _token_programs_and_events() -> list[AccountMeta]:
    """The tail most instructions share: token X / Y programs, event authority, program."""
    return [readonly(k) for k in (TOKEN_PROGRAM, TOKEN_PROGRAM, EVENT_AUTHORITY, DLMM_PROGRAM)]


def initialize_lb_pair2_ix(keys: DlmmPairKeys, funder: Pubkey, active_id: int) -> Instruction:
    """`initialize_lb_pair2` at `active_id` (plain SPL mints, no bitmap extension)."""
    if keys.preset is None:
        raise ValueError(f"{keys.lb_pair}: a pair without its preset cannot be initialised")
    data = anchor_ix_discriminator("initialize_lb_pair2") + struct.pack("<i", active_id) + bytes(96)
    accounts = [
        writable(keys.lb_pair),
        readonly(DLMM_PROGRAM),  # bin_array_bitmap_extension: None
        readonly(keys.mint_x),
        readonly(keys.mint_y),
        writable(keys.reserve_x),
        writable(keys.reserve_y),
        writable(keys.oracle),
        readonly(keys.preset),
        signer(funder, is_writable=True),
        readonly(DLMM_PROGRAM),  # token_badge_x: None
        readonly(DLMM_PROGRAM),  # token_badge_y: None
        readonly(TOKEN_PROGRAM),
        readonly(TOKEN_PROGRAM),
        readonly(SYSTEM_PROGRAM),
        readonly(keys.event_authority),
        readonly(DLMM_PROGRAM),
    ]
    return Instruction(DLMM_PROGRAM, data, accounts)


def initialize_bin_array_ix(lb_pair: Pubkey, index: int, funder: Pubkey) -> Instruction:
    """`initialize_bin_array`: create the BinArray of `index` (70 bins)."""
    data = anchor_ix_discriminator("initialize_bin_array") + struct.pack("<q", index)
    accounts = [
        readonly(lb_pair),
        writable(bin_array_address(lb_pair, index)),
        signer(funder, is_writable=True),
        readonly(SYSTEM_PROGRAM),
    ]
    return Instruction(DLMM_PROGRAM, data, accounts)


def initialize_position_ix(
    payer: Pubkey, position: Pubkey, lb_pair: Pubkey, owner: Pubkey, lower_bin_id: int, width: int
) -> Instruction:
    """`initialize_position` on a fresh keypair account (`position` signs), width ≤ 70."""
    data = anchor_ix_discriminator("initialize_position") + struct.pack("<ii", lower_bin_id, width)
    accounts = [
        signer(payer, is_writable=True),
        signer(position, is_writable=True),
        readonly(lb_pair),
        signer(owner),
        readonly(SYSTEM_PROGRAM),
        readonly(RENT_SYSVAR),
        readonly(EVENT_AUTHORITY),
        readonly(DLMM_PROGRAM),
    ]
    return Instruction(DLMM_PROGRAM, data, accounts)


def add_liquidity_by_strategy_ix(
    keys: DlmmPairKeys,
    position: Pubkey,
    sender: Pubkey,
    user_token_x: Pubkey,
    user_token_y: Pubkey,
    amount_x: int,
    amount_y: int,
    active_id: int,
    min_bin_id: int,
    max_bin_id: int,
    max_active_bin_slippage: int = 0,
    strategy_type: int = STRATEGY_SPOT_BALANCED,
) -> Instruction:
    """`add_liquidity_by_strategy` (SpotBalanced by default) over bins [min, max] inclusive.

    The position must cover the range; `active_id` is the one the caller saw, allowed to
    have moved by `max_active_bin_slippage` bins.
    """
    data = (
        anchor_ix_discriminator("add_liquidity_by_strategy")
        + struct.pack("<QQii", amount_x, amount_y, active_id, max_active_bin_slippage)
        + struct.pack("<iiB", min_bin_id, max_bin_id, strategy_type)
        + bytes(64)
    )
    accounts = [
        writable(position),
        writable(keys.lb_pair),
        readonly(DLMM_PROGRAM),  # bin_array_bitmap_extension: None
        writable(user_token_x),
        writable(user_token_y),
        writable(keys.reserve_x),
        writable(keys.reserve_y),
        readonly(keys.mint_x),
        readonly(keys.mint_y),
        writable(bin_array_address(keys.lb_pair, bin_array_index(min_bin_id))),
        writable(bin_array_address(keys.lb_pair, bin_array_index(max_bin_id))),
        signer(sender),
        *_token_programs_and_events(),
    ]
    return Instruction(DLMM_PROGRAM, data, accounts)


def swap_ix(
    keys: DlmmPairKeys,
    user: Pubkey,
    user_in: Pubkey,
    user_out: Pubkey,
    swap_for_y: bool,
    amount_in: int,
    min_out: int,
    bin_arrays: Sequence[int],
) -> Instruction:
    """`swap` exactly `amount_in`; fails with 6003 below `min_out`.

    `bin_arrays` are indexes; they are passed in traversal order (descending when
    `swap_for_y`), whatever order they come in. Passing unneeded arrays is harmless.
    """
    data = anchor_ix_discriminator("swap") + struct.pack("<QQ", amount_in, min_out)
    accounts = [
        writable(keys.lb_pair),
        readonly(DLMM_PROGRAM),  # bin_array_bitmap_extension: None
        writable(keys.reserve_x),
        writable(keys.reserve_y),
        writable(user_in),
        writable(user_out),
        readonly(keys.mint_x),
        readonly(keys.mint_y),
        writable(keys.oracle),
        readonly(DLMM_PROGRAM),  # host_fee_in: None
        signer(user),
        *_token_programs_and_events(),
    ]
    for index in sorted(set(bin_arrays), reverse=swap_for_y):
        accounts.append(writable(bin_array_address(keys.lb_pair, index)))
    return Instruction(DLMM_PROGRAM, data, accounts)


def decode_lb_pair(data: bytes) -> DlmmPairState:
    """The quote state of an LbPair account, with no bins loaded (see `with_bins`)."""
    _check(data, _LB_PAIR_DISC, LB_PAIR_OFFSETS["activation_point"] + 8, "LbPair")
    static: tuple[Any, ...] = _STATIC.unpack_from(data, LB_PAIR_OFFSETS["parameters"])
    variable = _VARIABLE.unpack_from(data, LB_PAIR_OFFSETS["v_parameters"])
    (active_id,) = struct.unpack_from("<i", data, LB_PAIR_OFFSETS["active_id"])
    (bin_step,) = struct.unpack_from("<H", data, LB_PAIR_OFFSETS["bin_step"])
    # in DlmmPairState's field order: StaticParameters without min/max bin id [6:8] and
    # function type [10], then VariableParameters, active id, bin step
    values: list[Any] = [*static[:6], *static[8:10], static[11], *variable, active_id, bin_step]
    return DlmmPairState(*values)


def decode_bin_array(data: bytes) -> dict[int, BinAmounts]:
    """Bin id -> (amount_x, amount_y, price_q64) for the 70 bins of a BinArray account.

    Raises ValueError for a bin holding limit orders: the exact quote models
    market-making liquidity only.
    """
    _check(data, _BIN_ARRAY_DISC, BIN_ARRAY_BINS_OFFSET + BINS_PER_ARRAY * BIN_SIZE, "BinArray")
    (index,) = struct.unpack_from("<q", data, 8)
    first = index * BINS_PER_ARRAY
    bins: dict[int, BinAmounts] = {}
    for k in range(BINS_PER_ARRAY):
        start = BIN_ARRAY_BINS_OFFSET + k * BIN_SIZE
        amount_x, amount_y, price_lo, price_hi = _BIN_HEAD.unpack_from(data, start)
        orders = _BIN_LIMIT_ORDERS.unpack_from(data, start + BIN_OFFSETS["open_order_amount"])
        if any(orders):
            raise ValueError(f"bin {first + k} holds limit orders, which the quote does not model")
        bins[first + k] = (amount_x, amount_y, price_lo | (price_hi << 64))
    return bins


def pair_state_from_accounts(lb_pair: bytes, bin_arrays: Iterable[bytes]) -> DlmmPairState:
    """The quote state of a pair with the bins of these BinArray accounts loaded."""
    bins: dict[int, BinAmounts] = {}
    for data in bin_arrays:
        bins.update(_decoded_bins(data))
    return decode_lb_pair(lb_pair).with_bins(bins)


@functools.lru_cache(maxsize=256)
def _decoded_bins(data: bytes) -> Mapping[int, BinAmounts]:
    """`decode_bin_array`, remembered for the same bytes (most reads find most arrays
    unchanged since the last swap); read-only, so a shared result cannot be changed."""
    return MappingProxyType(decode_bin_array(data))


def _check(data: bytes, discriminator: bytes, size: int, name: str) -> None:
    if len(data) < size:
        raise ValueError(f"{name} needs {size}+ bytes, got {len(data)}")
    if data[:8] != discriminator:
        raise ValueError(f"not a {name} account (discriminator {bytes(data[:8]).hex()})")
