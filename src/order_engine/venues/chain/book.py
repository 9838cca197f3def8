"""Which pool a chain venue trades for a pair: a `PoolBook`.

- `ListedPools`, on the local chain (in-process or `order-engine localnet`): every pair of
  known tokens has its pool at the address that follows from the two mints and the pair's
  tier (`chain.listing`), launched tokens included; a pool that does not exist is found
  missing when its accounts are read.
- `ConfiguredPools`, on any cluster: only the pools a pools file names (`POOLS_FILE`), their
  keys read off the pools' own accounts at start-up (`venues.chain.pools_file`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from solders.pubkey import Pubkey

from order_engine.chain import dlmm, listing, raydium
from order_engine.domain.errors import NoRouteError
from order_engine.domain.tokens import Token

Pair = tuple[Token, Token]  # (base, quote): prices are quote per base


class PoolBook(Protocol):
    def raydium(self, a: Token, b: Token) -> raydium.CpmmPoolKeys:
        """The Raydium CPMM pool of `a` and `b` (either order); `NoRouteError` if none."""
        ...

    def dlmm(self, a: Token, b: Token) -> dlmm.DlmmPairKeys:
        """The Meteora DLMM pair of `a` and `b` (either order); `NoRouteError` if none."""
        ...

    def pairs(self, program: Pubkey, tokens: Iterable[Token]) -> list[Pair]:
        """The pairs of `tokens` (the engine's registry) with a pool on `program`."""
        ...


class ListedPools:
    """The local chain's pools: one per pair and program, where `chain.listing` puts it."""

    def raydium(self, a: Token, b: Token) -> raydium.CpmmPoolKeys:
        return listing.raydium_keys(a, b)

    def dlmm(self, a: Token, b: Token) -> dlmm.DlmmPairKeys:
        return listing.dlmm_keys(a, b)

    def pairs(self, program: Pubkey, tokens: Iterable[Token]) -> list[Pair]:
        return listing.pool_pairs(tokens)


def _mints(a: Token, b: Token) -> frozenset[str]:
    return frozenset((a.swap_mint, b.swap_mint))


@dataclass(frozen=True)
class ConfiguredPools:
    """The pools a pools file names, by their two mints; no other pool is traded."""

    raydium_pools: Mapping[frozenset[str], tuple[Pair, raydium.CpmmPoolKeys]] = field(
        default_factory=dict
    )
    dlmm_pairs: Mapping[frozenset[str], tuple[Pair, dlmm.DlmmPairKeys]] = field(
        default_factory=dict
    )

    def raydium(self, a: Token, b: Token) -> raydium.CpmmPoolKeys:
        found = self.raydium_pools.get(_mints(a, b))
        if found is None:
            raise NoRouteError(f"raydium: POOLS_FILE names no pool for {a.symbol}/{b.symbol}")
        return found[1]

    def dlmm(self, a: Token, b: Token) -> dlmm.DlmmPairKeys:
        found = self.dlmm_pairs.get(_mints(a, b))
        if found is None:
            raise NoRouteError(f"meteora: POOLS_FILE names no pair for {a.symbol}/{b.symbol}")
        return found[1]

    def pairs(self, program: Pubkey, tokens: Iterable[Token]) -> list[Pair]:
        known = {t.swap_mint for t in tokens}
        if program == raydium.RAYDIUM_CPMM_PROGRAM:
            listed = [(mints, pair) for mints, (pair, _) in self.raydium_pools.items()]
        else:
            listed = [(mints, pair) for mints, (pair, _) in self.dlmm_pairs.items()]
        return [pair for mints, pair in listed if mints <= known]
