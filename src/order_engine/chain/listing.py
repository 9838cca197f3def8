"""Which pools the local chain lists, and where they are.

Every pair of the registry's built-in tokens has one Raydium CPMM pool and one Meteora
DLMM pair; a launched token has one pool, on the program its launch names. A pool's
address follows from its two mints and its tier (Raydium: the AmmConfig; DLMM: the
preset, i.e. the bin step), so any process finds it without being told.

Tiers: two stablecoins (narrow bins, deep), a pair with wSOL or a stablecoin (the
default), or two other tokens (wide bins, thin). Depths are USD on each side at the
opening price (Raydium SOL/USDC: 2M USD a side; Meteora: 1.5M).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import combinations

from solders.pubkey import Pubkey

from order_engine.chain import dlmm, raydium
from order_engine.domain.tokens import Token

QUOTE_ORDER = ("USDC", "USDT", "WSOL")  # the first one a pair holds is its quote token
STABLECOINS = frozenset({"USDC", "USDT"})
RAYDIUM_CONFIG_INDEX = 0
RAYDIUM_TRADE_FEE_RATE = 2_500  # 0.25% of the input, out of 1e6 (Raydium's standard tier)
DLMM_BINS_EACH_SIDE = 34  # liquidity spans the active bin ± this many (69 ≤ 70 bins)


class Tier(StrEnum):
    STABLE = "stable"
    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True, slots=True)
class DlmmPreset:
    index: int
    bin_step: int  # bps between bins
    base_factor: int  # base fee = base_factor × bin_step × 10 / 1e9


DLMM_PRESETS = {
    Tier.STABLE: DlmmPreset(0, 1, 10_000),  # 0.01% base fee
    Tier.MAJOR: DlmmPreset(1, 10, 20_000),  # 0.2%
    Tier.MINOR: DlmmPreset(2, 25, 10_000),  # 0.25%
}
DEPTH_USD: dict[str, dict[Tier, Decimal]] = {
    "raydium": {Tier.STABLE: Decimal(10_000_000), Tier.MAJOR: Decimal(2_000_000),
                Tier.MINOR: Decimal(400_000)},
    "meteora": {Tier.STABLE: Decimal(8_000_000), Tier.MAJOR: Decimal(1_500_000),
                Tier.MINOR: Decimal(300_000)},
}  # fmt: skip


def pool_symbol(token: Token) -> str:
    return "WSOL" if token.native else token.symbol


def base_and_quote(a: Token, b: Token) -> tuple[Token, Token]:
    """The pool's base (DLMM X) and quote (DLMM Y) token: prices are quote per base."""
    ranks = {s: i for i, s in enumerate(QUOTE_ORDER)}
    rank_a = ranks.get(pool_symbol(a), len(QUOTE_ORDER))
    rank_b = ranks.get(pool_symbol(b), len(QUOTE_ORDER))
    if rank_a < rank_b:
        return b, a
    if rank_b < rank_a:
        return a, b
    return (a, b) if pool_symbol(a) < pool_symbol(b) else (b, a)


def tier(a: Token, b: Token) -> Tier:
    symbols = {pool_symbol(a), pool_symbol(b)}
    if symbols <= STABLECOINS:
        return Tier.STABLE
    if symbols & set(QUOTE_ORDER):
        return Tier.MAJOR
    return Tier.MINOR


def pool_tokens(tokens: Iterable[Token]) -> list[Token]:
    """One token per asset the pools trade (SOL and wSOL are one: wSOL), by pool symbol."""
    by_mint: dict[str, Token] = {}
    for token in tokens:
        if not token.native:
            by_mint.setdefault(token.swap_mint, token)
    return sorted(by_mint.values(), key=pool_symbol)


def pool_pairs(tokens: Iterable[Token]) -> list[tuple[Token, Token]]:
    """Every pair of `tokens`' pool tokens, as (base, quote): the pools a venue lists."""
    return [base_and_quote(a, b) for a, b in combinations(pool_tokens(tokens), 2)]


def mint_of(token: Token) -> Pubkey:
    return Pubkey.from_string(token.swap_mint)


@functools.lru_cache(maxsize=4096)  # program-address searches cost ~0.1 ms each
def raydium_keys(a: Token, b: Token) -> raydium.CpmmPoolKeys:
    config = raydium.amm_config_address(RAYDIUM_CONFIG_INDEX)
    return raydium.CpmmPoolKeys.derive(config, mint_of(a), mint_of(b))


@functools.lru_cache(maxsize=4096)
def dlmm_keys(a: Token, b: Token) -> dlmm.DlmmPairKeys:
    base, quote = base_and_quote(a, b)
    preset = dlmm.preset_parameter2_address(DLMM_PRESETS[tier(a, b)].index)
    return dlmm.DlmmPairKeys.derive(preset, mint_of(base), mint_of(quote))
