"""The background market's view of a pool: its mid price and fee, exact quotes, its swap
instruction, and the arbitrageur's trade that moves it to a target price.

Prices are quote base units per base base unit (`Fraction`), as the programs hold them.

- Raydium CPMM: the mid is the curve's (reserves net of accrued protocol and fund fees);
  the trade to a target is closed form: x·y = k stays, the side bought ends at
  √(k·target) (or √(k/target)), and the net input is grossed up for the trade fee.
- Meteora DLMM: the mid is the active bin's price; the trade to a target is found by
  bisection on the exact quote's `end_active_id` toward the bin nearest the target. It
  never goes past the loaded bins: if they end first, it takes what they can absorb.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt
from typing import Protocol

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from order_engine.chain import dlmm, listing, raydium, spl
from order_engine.chain.port import Chain
from order_engine.domain.pools import dlmm_exact
from order_engine.domain.pools.base import InsufficientLiquidityError
from order_engine.domain.pools.cpmm_exact import FEE_RATE_DENOMINATOR, U64_MAX
from order_engine.domain.tokens import BUILT_IN, TOKENS, Token

VENUES = ("raydium", "meteora")
ARRAYS_EACH_SIDE = 1  # bin arrays read beside the active one (liquidity spans ±34 bins)


@dataclass(frozen=True, slots=True)
class PoolRef:
    """One pool of the market: a venue and a pair (base priced in quote)."""

    venue: str
    base: Token
    quote: Token

    @property
    def name(self) -> str:
        return f"{self.venue}:{listing.pool_symbol(self.base)}/{listing.pool_symbol(self.quote)}"

    def target(self, reference_usd: Mapping[str, Decimal]) -> Fraction:
        """The reference price in quote base units per base base unit."""
        base = Fraction(reference_usd[listing.pool_symbol(self.base)])
        quote = Fraction(reference_usd[listing.pool_symbol(self.quote)])
        return base / quote * Fraction(10**self.quote.decimals, 10**self.base.decimals)

    def tokens(self, sell_base: bool) -> tuple[Token, Token]:
        """(input, output) of a swap in this direction."""
        return (self.base, self.quote) if sell_base else (self.quote, self.base)


def built_in_pools() -> list[PoolRef]:
    """Both venues' pool of every pair of built-in tokens (SOL counted once, as wSOL)."""
    pairs = listing.pool_pairs(TOKENS[s] for s in sorted(BUILT_IN))
    return [PoolRef(venue, base, quote) for venue in VENUES for base, quote in pairs]


class LivePool(Protocol):
    """A pool as its accounts were read."""

    @property
    def ref(self) -> PoolRef: ...

    def mid(self) -> Fraction: ...

    def fee(self) -> Fraction: ...

    def amount_out(self, sell_base: bool, amount_in: int) -> int:
        """The exact output; `InsufficientLiquidityError` if the pool cannot take it."""
        ...

    def to_price(self, target: Fraction) -> tuple[bool, int] | None:
        """(sell_base, amount_in) of the swap that moves the mid to `target`, if any."""
        ...

    def instruction(
        self, trader: Pubkey, sell_base: bool, amount_in: int, min_out: int
    ) -> Instruction: ...


def _accounts(trader: Pubkey, ref: PoolRef, sell_base: bool) -> tuple[Pubkey, Pubkey, Pubkey]:
    """The trader's input and output token accounts and the input mint."""
    token_in, token_out = ref.tokens(sell_base)
    mint_in, mint_out = listing.mint_of(token_in), listing.mint_of(token_out)
    ata = get_associated_token_address
    return ata(trader, mint_in), ata(trader, mint_out), mint_in


@dataclass(frozen=True, slots=True)
class CpmmPool:
    ref: PoolRef
    keys: raydium.CpmmPoolKeys
    state: raydium.CpmmPoolState
    config: raydium.AmmConfig
    vault0: int
    vault1: int

    def reserves(self) -> tuple[int, int]:
        """(base, quote) on the curve: vault balances net of accrued fees."""
        x0, x1 = self.state.reserves(self.vault0, self.vault1)
        return (x0, x1) if self.state.mint0 == listing.mint_of(self.ref.base) else (x1, x0)

    def mid(self) -> Fraction:
        base, quote = self.reserves()
        return Fraction(quote, base)

    def fee(self) -> Fraction:
        return Fraction(self.config.trade_fee_rate, FEE_RATE_DENOMINATOR)

    def amount_out(self, sell_base: bool, amount_in: int) -> int:
        mint = listing.mint_of(self.ref.tokens(sell_base)[0])
        return raydium.quote_swap_base_input(
            self.state, self.config, self.vault0, self.vault1, mint, amount_in
        ).amount_out

    def to_price(self, target: Fraction) -> tuple[bool, int] | None:
        base, quote = self.reserves()
        k = base * quote
        sell_base = Fraction(quote, base) > target  # base is dear here: sell it
        if sell_base:
            net = isqrt(k * target.denominator // target.numerator) - base
        else:
            net = isqrt(k * target.numerator // target.denominator) - quote
        rate = self.config.trade_fee_rate
        gross = -(-net * FEE_RATE_DENOMINATOR // (FEE_RATE_DENOMINATOR - rate))
        return (sell_base, min(gross, U64_MAX)) if net > 0 else None

    def instruction(
        self, trader: Pubkey, sell_base: bool, amount_in: int, min_out: int
    ) -> Instruction:
        source, dest, mint_in = _accounts(trader, self.ref, sell_base)
        return raydium.swap_base_input_ix(
            self.keys, trader, source, dest, mint_in, amount_in, min_out
        )


@dataclass(frozen=True, slots=True)
class DlmmPool:
    ref: PoolRef
    keys: dlmm.DlmmPairKeys
    state: dlmm_exact.DlmmPairState
    arrays: tuple[int, ...]  # the bin arrays that exist around the active bin
    now: int  # the chain's unix time (the fee's volatility references move with it)

    def mid(self) -> Fraction:
        return dlmm_exact.mid_price(self.state)

    def fee(self) -> Fraction:
        _, reference = dlmm_exact.volatility_references(self.state, self.now)
        rate = dlmm_exact.fee_rate(self.state, reference)
        return Fraction(rate, dlmm_exact.FEE_PRECISION)

    def amount_out(self, sell_base: bool, amount_in: int) -> int:
        return dlmm_exact.quote_exact_in(self.state, amount_in, sell_base, self.now).amount_out

    def to_price(self, target: Fraction) -> tuple[bool, int] | None:
        goal = dlmm.active_id_for_price(target, self.state.bin_step)
        if goal == self.state.active_id:
            return None
        sell_base = goal < self.state.active_id  # X for Y walks the bins down
        amount = self._amount_to(goal, sell_base)
        return (sell_base, amount) if amount > 0 else None

    def _ends(self, sell_base: bool, amount: int) -> int | None:
        """Where the active bin ends after `amount` in; None past the loaded bins."""
        try:
            return dlmm_exact.quote_exact_in(self.state, amount, sell_base, self.now).end_active_id
        except InsufficientLiquidityError:
            return None

    def _amount_to(self, goal: int, sell_base: bool) -> int:
        """The least input that brings the active bin to `goal`; if the loaded liquidity
        ends first, the most it takes (0: nothing sensible to trade)."""

        def enough(amount: int) -> bool:
            end = self._ends(sell_base, amount)
            return end is None or (end <= goal if sell_base else end >= goal)

        first = _dust_input(self.mid(), sell_base)
        if enough(first):  # dust does it (empty bins), or the liquidity ends at once
            return first if self._ends(sell_base, first) is not None else 0
        lo, hi = first, 2 * first
        while not enough(hi) and hi < U64_MAX:
            lo, hi = hi, min(2 * hi, U64_MAX)
        hi = _bisect(lo, hi, enough)
        return hi if self._ends(sell_base, hi) is not None else lo

    def instruction(
        self, trader: Pubkey, sell_base: bool, amount_in: int, min_out: int
    ) -> Instruction:
        source, dest, _ = _accounts(trader, self.ref, sell_base)
        return dlmm.swap_ix(
            self.keys, trader, source, dest, sell_base, amount_in, min_out, self.arrays
        )


def _dust_input(mid: Fraction, sell_base: bool) -> int:
    """A small input (dust: 1,000 base units of either side) that surely buys something
    at `mid`, fee included: smaller ones may buy 0, which the quote also refuses."""
    per_out = 1 / mid if sell_base else mid
    return int(per_out * 1_000) + 1_000


def _bisect(lo: int, hi: int, enough: Callable[[int], bool]) -> int:
    """The least amount in (lo, hi] that is `enough` (not `lo`, `hi` is)."""
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if enough(middle):
            hi = middle
        else:
            lo = middle
    return hi


async def read_pool(
    chain: Chain, ref: PoolRef, config: raydium.AmmConfig, now: int
) -> LivePool | None:
    """The pool as its accounts say now; None if it does not exist or a side is empty."""
    if ref.venue == "raydium":
        return await _read_cpmm(chain, ref, config)
    return await _read_dlmm(chain, ref, now)


async def _read_cpmm(chain: Chain, ref: PoolRef, config: raydium.AmmConfig) -> CpmmPool | None:
    keys = listing.raydium_keys(ref.base, ref.quote)
    pool, vault0, vault1 = await chain.accounts([keys.pool, keys.vault0, keys.vault1])
    if pool is None or vault0 is None or vault1 is None:
        return None
    state = raydium.decode_pool_state(pool.data)
    found = CpmmPool(
        ref, keys, state, config, spl.token_amount(vault0.data), spl.token_amount(vault1.data)
    )
    return found if min(found.reserves()) > 0 else None


async def _read_dlmm(chain: Chain, ref: PoolRef, now: int) -> DlmmPool | None:
    keys = listing.dlmm_keys(ref.base, ref.quote)
    (pair,) = await chain.accounts([keys.lb_pair])
    if pair is None:
        return None
    centre = dlmm.bin_array_index(dlmm.decode_lb_pair(pair.data).active_id)
    indexes = range(centre - ARRAYS_EACH_SIDE, centre + ARRAYS_EACH_SIDE + 1)
    addresses = [dlmm.bin_array_address(keys.lb_pair, i) for i in indexes]
    pair, *arrays = await chain.accounts([keys.lb_pair, *addresses])
    if pair is None:
        return None
    present = tuple(i for i, a in zip(indexes, arrays, strict=True) if a is not None)
    state = dlmm.pair_state_from_accounts(pair.data, [a.data for a in arrays if a])
    return DlmmPool(ref, keys, state, present, now)


def deviation(pool: LivePool, target: Fraction) -> Fraction:
    """How far the pool's mid is from `target`: mid / target − 1."""
    return pool.mid() / target - 1


async def read_amm_config(chain: Chain) -> raydium.AmmConfig:
    key = raydium.amm_config_address(listing.RAYDIUM_CONFIG_INDEX)
    (found,) = await chain.accounts([key])
    if found is None:
        raise LookupError("the chain has no Raydium AmmConfig")
    return raydium.decode_amm_config(found.data)
