"""Every pool on the chain, as its accounts say now: for the pools endpoint and CLI.

The pools looked for are the listing's: one per pair of the given tokens (the engine's
registry; native SOL counted once, as wSOL) on each chain venue. A pool whose account does
not exist is skipped (a launched token has a pool on one venue only). Accounts are read
through the `Chain` port in batches (`getMultipleAccounts` takes up to 100 keys), one venue
at a time.

- Raydium CPMM: reserves are the vault balances minus the protocol and fund fees accrued
  in them (what the swap curve uses); the price is the curve's, quote per base.
- Meteora DLMM: the active bin id, the bin step, the active bin's price (quote per base)
  and the reserves: the reserve accounts minus the uncollected protocol fee.

Amounts and prices are whole tokens as `Decimal`; `as_dict` renders them as strings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from solders.pubkey import Pubkey

from order_engine.chain import dlmm, listing, raydium, spl
from order_engine.chain.port import AccountInfo, Chain
from order_engine.domain.pools.dlmm_exact import ONE_Q64, price_q64_from_id
from order_engine.domain.quotes import plain
from order_engine.domain.tokens import Token
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.chain.curve import fraction_to_decimal, from_units

BATCH = 100  # keys per `accounts` call (getMultipleAccounts' limit)
_PROTOCOL_FEE = struct.Struct("<QQ")  # LbPair.protocol_fee: amount_x, amount_y


@dataclass(frozen=True, slots=True)
class PoolView:
    """One pool: its pair (base priced in quote), reserves and price in whole tokens."""

    venue: str
    program_id: str
    address: str
    base: Token
    quote: Token
    reserve_base: Decimal
    reserve_quote: Decimal
    price: Decimal | None  # quote per base; None while a side is empty
    active_bin_id: int | None = None  # DLMM only
    bin_step: int | None = None  # DLMM only, in basis points

    @property
    def pair(self) -> str:
        return f"{self.base.symbol}/{self.quote.symbol}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "venue": self.venue,
            "programId": self.program_id,
            "address": self.address,
            "pair": self.pair,
            "base": {"symbol": self.base.symbol, "mint": self.base.swap_mint},
            "quote": {"symbol": self.quote.symbol, "mint": self.quote.swap_mint},
            "reserves": {"base": plain(self.reserve_base), "quote": plain(self.reserve_quote)},
            "price": None if self.price is None else plain(self.price),
        }
        if self.active_bin_id is not None:
            out["activeBinId"] = self.active_bin_id
            out["binStep"] = self.bin_step
        return out


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    slot: int  # the slot the chain was at when the read began
    pools: tuple[PoolView, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "pools": [p.as_dict() for p in self.pools]}


async def pool_views(venues: Sequence[ChainVenue], tokens: Iterable[Token]) -> PoolSnapshot:
    """Every existing pool of `tokens` (the engine's registry) on each venue's program
    that the venue's pool book lists."""
    known = list(tokens)
    if not venues:
        return PoolSnapshot(0, ())
    slot = await venues[0].chain.slot()
    found: list[PoolView] = []
    for venue in venues:  # each venue's pools by pair name
        pairs = venue.pools.pairs(venue.program_id, known)
        if venue.program_id == raydium.RAYDIUM_CPMM_PROGRAM:
            found += await _read_pools(venue, pairs, _raydium_keys, _raydium_view)
        elif venue.program_id == dlmm.DLMM_PROGRAM:
            found += await _read_pools(venue, pairs, _dlmm_keys, _dlmm_view)
    return PoolSnapshot(slot, tuple(found))


async def read_accounts(chain: Chain, keys: Sequence[Pubkey]) -> list[AccountInfo | None]:
    """`keys`' accounts, in order, read `BATCH` at a time."""
    out: list[AccountInfo | None] = []
    for start in range(0, len(keys), BATCH):
        out += await chain.accounts(keys[start : start + BATCH])
    return out


Keys = tuple[Pubkey, Pubkey, Pubkey]  # the pool's state account, then its two token accounts
KeysOf = Callable[[ChainVenue, Token, Token], Keys]
ViewOf = Callable[[ChainVenue, Keys, Token, Token, list[AccountInfo]], PoolView]


async def _read_pools(
    venue: ChainVenue, pairs: Sequence[tuple[Token, Token]], keys_of: KeysOf, view_of: ViewOf
) -> list[PoolView]:
    """The pools of `pairs` on `venue` whose three accounts all exist, by pair name."""
    all_keys = [keys_of(venue, base, quote) for base, quote in pairs]
    accounts = await read_accounts(venue.chain, [k for keys in all_keys for k in keys])
    views: list[PoolView] = []
    for i, ((base, quote), keys) in enumerate(zip(pairs, all_keys, strict=True)):
        found = [a for a in accounts[3 * i : 3 * i + 3] if a is not None]
        if len(found) == len(keys):
            views.append(view_of(venue, keys, base, quote, found))
    return sorted(views, key=lambda v: v.pair)


def _raydium_keys(venue: ChainVenue, base: Token, quote: Token) -> Keys:
    keys = venue.pools.raydium(base, quote)
    return keys.pool, keys.vault0, keys.vault1


def _raydium_view(
    venue: ChainVenue, keys: Keys, base: Token, quote: Token, accounts: list[AccountInfo]
) -> PoolView:
    pool, vault0, vault1 = accounts
    state = raydium.decode_pool_state(pool.data)
    x0, x1 = state.reserves(spl.token_amount(vault0.data), spl.token_amount(vault1.data))
    units_base, units_quote = (x0, x1) if listing.mint_of(base) == state.mint0 else (x1, x0)
    empty = units_base <= 0 or units_quote <= 0
    return PoolView(
        venue=venue.name,
        program_id=str(venue.program_id),
        address=str(keys[0]),
        base=base,
        quote=quote,
        reserve_base=from_units(units_base, base),
        reserve_quote=from_units(units_quote, quote),
        price=None if empty else _price(Fraction(units_quote, units_base), base, quote),
    )


def _dlmm_keys(venue: ChainVenue, base: Token, quote: Token) -> Keys:
    keys = venue.pools.dlmm(base, quote)
    return keys.lb_pair, keys.reserve_x, keys.reserve_y


def _dlmm_view(
    venue: ChainVenue, keys: Keys, base: Token, quote: Token, accounts: list[AccountInfo]
) -> PoolView:
    pair, reserve_x, reserve_y = accounts
    state = dlmm.decode_lb_pair(pair.data)
    fee_x, fee_y = _PROTOCOL_FEE.unpack_from(pair.data, dlmm.LB_PAIR_OFFSETS["protocol_fee"])
    units_x = spl.token_amount(reserve_x.data) - fee_x
    units_y = spl.token_amount(reserve_y.data) - fee_y
    bin_price = Fraction(price_q64_from_id(state.active_id, state.bin_step), ONE_Q64)
    if spl.token_mint(reserve_x.data) != listing.mint_of(base):  # X is the quote token
        units_x, units_y, bin_price = units_y, units_x, 1 / bin_price
    return PoolView(
        venue=venue.name,
        program_id=str(venue.program_id),
        address=str(keys[0]),
        base=base,
        quote=quote,
        reserve_base=from_units(units_x, base),
        reserve_quote=from_units(units_y, quote),
        price=_price(bin_price, base, quote),
        active_bin_id=state.active_id,
        bin_step=state.bin_step,
    )


def _price(units_per_unit: Fraction, base: Token, quote: Token) -> Decimal:
    """Quote base units per base base unit → whole quote tokens per whole base token."""
    scale = Fraction(10) ** (base.decimals - quote.decimals)
    return fraction_to_decimal(units_per_unit * scale)
