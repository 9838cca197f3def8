"""Opening Meteora DLMM pairs at genesis (and at launches): the preset parameters
(written directly: only an admin may create them), then the real `initialize_lb_pair2`,
`initialize_bin_array`, `initialize_position` and `add_liquidity_by_strategy`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from order_engine.chain import dlmm, listing

if TYPE_CHECKING:
    from order_engine.chain.inprocess import InProcessChain
    from order_engine.domain.tokens import Token

# Volatility parameters of a mainnet-like pair (the variable fee rises with bins crossed).
FILTER_PERIOD, DECAY_PERIOD, REDUCTION_FACTOR = 30, 600, 5_000
VARIABLE_FEE_CONTROL, MAX_VOLATILITY_ACCUMULATOR, PROTOCOL_SHARE = 40_000, 350_000, 500
PAIR_CU, LIQUIDITY_CU = 400_000, 1_400_000
UsdPrice = Callable[["Token"], Decimal]  # a token's price in USD


class PoolOpener(Protocol):
    """What opening a pair needs from the genesis (or a launch)."""

    chain: InProcessChain
    authority_key: Pubkey

    def ata(self, mint: Pubkey) -> Pubkey: ...

    def send(
        self, ixs: list[Instruction], signers: list[Keypair] = ..., cu: int | None = None
    ) -> None: ...

    def price(self, token: Token) -> Decimal: ...

    def base_units(self, token: Token, usd: Decimal) -> int: ...


def write_presets(chain: InProcessChain) -> None:
    for preset in listing.DLMM_PRESETS.values():
        data = dlmm.preset_parameter2_bytes(
            preset.bin_step, preset.base_factor, FILTER_PERIOD, DECAY_PERIOD,
            VARIABLE_FEE_CONTROL, MAX_VOLATILITY_ACCUMULATOR, REDUCTION_FACTOR,
            PROTOCOL_SHARE, preset.index,
        )  # fmt: skip
        account = Account(chain.rent(len(data)), data, dlmm.DLMM_PROGRAM, False, 0)
        chain.write_account(dlmm.preset_parameter2_address(preset.index), account)


def opening_active_id(price: UsdPrice, base: Token, quote: Token, bin_step: int) -> int:
    """The bin at the opening price, in quote base units per base base unit."""
    ratio = Fraction(price(base)) / Fraction(price(quote))
    per_unit = ratio * Fraction(10**quote.decimals, 10**base.decimals)
    return dlmm.active_id_for_price(per_unit, bin_step)


def liquidity_range(active: int) -> tuple[int, int]:
    """Bins [lower, upper] around `active`, across two bin arrays: the program borrows the
    lower and the upper array mutably, so one array passed twice fails."""
    lower = active - listing.DLMM_BINS_EACH_SIDE
    upper = active + listing.DLMM_BINS_EACH_SIDE
    if dlmm.bin_array_index(lower) == dlmm.bin_array_index(upper):
        lower, upper = lower - 2, upper - 2
    return lower, upper


def base_units(price: UsdPrice, token: Token, usd: Decimal) -> int:
    """`usd` worth of `token` at its price, in base units."""
    return int(usd / price(token) * 10**token.decimals)


@dataclass(frozen=True, slots=True)
class OpeningTx:
    """One transaction of a pair's opening: instructions, extra signers, compute units."""

    ixs: list[Instruction]
    signers: list[Keypair]
    cu: int


@dataclass(frozen=True, slots=True)
class DlmmOpening:
    """The transactions that open a pair, in order; the last one deposits `deposits`
    (base units by mint) from the funder's token accounts."""

    keys: dlmm.DlmmPairKeys
    txs: tuple[OpeningTx, ...]
    deposits: dict[Pubkey, int]


def dlmm_opening(
    a: Token,
    b: Token,
    depth_usd: Decimal,
    price: UsdPrice,
    funder: Pubkey,
    ata: Callable[[Pubkey], Pubkey],
    position: Keypair | None = None,
) -> DlmmOpening:
    """The transactions that open the pair of `a` and `b` at their prices with
    `depth_usd` a side (`funder` pays and owns the position; `ata`: its token account of a
    mint)."""
    base, quote = listing.base_and_quote(a, b)
    keys = listing.dlmm_keys(a, b)
    bin_step = listing.DLMM_PRESETS[listing.tier(a, b)].bin_step
    active = opening_active_id(price, base, quote, bin_step)
    lower, upper = liquidity_range(active)
    arrays = sorted({dlmm.bin_array_index(lower), dlmm.bin_array_index(upper)})
    init_arrays = [dlmm.initialize_bin_array_ix(keys.lb_pair, i, funder) for i in arrays]
    position = position or Keypair.from_seed(bytes(keys.lb_pair))  # deterministic per pair
    width = upper - lower + 1
    init = dlmm.initialize_position_ix(
        funder, position.pubkey(), keys.lb_pair, funder, lower, width
    )
    amount_x, amount_y = base_units(price, base, depth_usd), base_units(price, quote, depth_usd)
    add = dlmm.add_liquidity_by_strategy_ix(
        keys, position.pubkey(), funder, ata(keys.mint_x), ata(keys.mint_y),
        amount_x, amount_y, active, lower, upper,
    )  # fmt: skip
    txs = (
        OpeningTx([dlmm.initialize_lb_pair2_ix(keys, funder, active)], [], PAIR_CU),
        OpeningTx(init_arrays, [], LIQUIDITY_CU),
        OpeningTx([init, add], [position], LIQUIDITY_CU),
    )
    return DlmmOpening(keys, txs, {keys.mint_x: amount_x, keys.mint_y: amount_y})


def open_dlmm_pair(opener: PoolOpener, a: Token, b: Token, depth_usd: Decimal) -> dlmm.DlmmPairKeys:
    """Open the pair of `a` and `b` at their opening prices with `depth_usd` a side."""
    opening = dlmm_opening(a, b, depth_usd, opener.price, opener.authority_key, opener.ata)
    for tx in opening.txs:
        opener.send(tx.ixs, tx.signers, cu=tx.cu)
    return opening.keys
