"""A pools file (`POOLS_FILE`, TOML): the tokens and pools the engine trades on a cluster
it did not create (devnet, mainnet), instead of the local chain's listing.

    # Tokens beyond the built-in ones, or a built-in symbol on other mint (devnet's USDC).
    [tokens.USDC]
    mint = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    decimals = 6

    [[pools]]              # `order-engine pools discover --rpc URL --pair SOL/USDC --toml`
    venue = "raydium"      # raydium (CPMM) or meteora (DLMM)
    pair = "SOL/USDC"      # base/quote: the pool view prices the base in the quote
    address = "..."        # the PoolState or LbPair account

Each pool's accounts are read from the cluster at start-up (`configured_pools`): its owner
must be the venue's program and its two mints the pair's. Any mistake stops start-up with
`PoolsFileError`, naming the file and the entry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from solders.pubkey import Pubkey

from order_engine.chain import pool_accounts
from order_engine.chain.dlmm import DlmmPairKeys
from order_engine.chain.port import Chain
from order_engine.chain.raydium import CpmmPoolKeys
from order_engine.domain.errors import RequestError
from order_engine.domain.launches import check_symbol
from order_engine.domain.tokens import BUILT_IN_TOKENS, Token, TokenRegistry
from order_engine.venues.chain.book import ConfiguredPools, Pair

VENUES: Final = ("raydium", "meteora")
FIXED: Final = frozenset({"SOL", "WSOL"})  # native SOL and its wrapped mint are the same everywhere
MAX_DECIMALS: Final = 18


class PoolsFileError(ValueError):
    """What is wrong with the pools file, naming the file and the entry."""


@dataclass(frozen=True, slots=True)
class PoolEntry:
    venue: str
    base: str  # symbols, as the file spells them (upper-cased)
    quote: str
    address: Pubkey
    where: str  # e.g. "pools[2]", for messages


@dataclass(frozen=True, slots=True)
class PoolsFile:
    path: Path
    tokens: tuple[Token, ...]  # the tokens the file declares
    pools: tuple[PoolEntry, ...]

    def registry_tokens(self, built_in: Iterable[Token] = BUILT_IN_TOKENS) -> tuple[Token, ...]:
        """The built-in tokens with the file's in place of those it redeclares, then its
        new ones: the engine's registry starts with these."""
        declared = {t.symbol: t for t in self.tokens}
        merged = [declared.pop(t.symbol, t) for t in built_in]
        return (*merged, *declared.values())


def read_pools_file(path: Path, *, need_pools: bool = True) -> PoolsFile:
    """The file parsed and checked (not yet against the chain); with `need_pools`, a file
    naming no pool is an error."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PoolsFileError(f"POOLS_FILE {path}: cannot read it ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PoolsFileError(f"POOLS_FILE {path}: not valid TOML ({exc})") from exc
    unknown = set(raw) - {"tokens", "pools"}
    if unknown:
        raise PoolsFileError(f"POOLS_FILE {path}: unknown section {sorted(unknown)[0]!r}")
    tokens = tuple(_token(path, s, t) for s, t in _table(path, raw, "tokens", {}).items())
    pools = _list(path, raw.get("pools", []))
    entries = tuple(_entry(path, f"pools[{i}]", p) for i, p in enumerate(pools))
    if need_pools and not entries:
        raise PoolsFileError(f"POOLS_FILE {path}: names no pool ([[pools]] entries)")
    seen: set[tuple[str, frozenset[str]]] = set()
    for entry in entries:
        key = (entry.venue, frozenset((entry.base, entry.quote)))
        if key in seen:
            raise PoolsFileError(f"POOLS_FILE {path} {entry.where}: a second {entry.venue} "
                                 f"pool for {entry.base}/{entry.quote}")  # fmt: skip
        seen.add(key)
    return PoolsFile(path, tokens, entries)


def _table(path: Path, raw: Mapping[str, Any], name: str, default: Any) -> Mapping[str, Any]:
    value = raw.get(name, default)
    if not isinstance(value, dict):
        raise PoolsFileError(f"POOLS_FILE {path}: [{name}] must be a table")
    return value


def _list(path: Path, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise PoolsFileError(f"POOLS_FILE {path}: pools must be [[pools]] tables")
    return value


def _token(path: Path, symbol: str, spec: Any) -> Token:
    where = f"POOLS_FILE {path} tokens.{symbol}"
    try:
        upper = check_symbol(symbol, field="symbol")
    except RequestError as exc:
        raise PoolsFileError(f"{where}: {exc.message}") from exc
    if upper in FIXED:
        raise PoolsFileError(f"{where}: {upper} is the same on every cluster; leave it out")
    if not isinstance(spec, dict) or set(spec) != {"mint", "decimals"}:
        raise PoolsFileError(f"{where}: needs exactly `mint` and `decimals`")
    decimals = spec["decimals"]
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise PoolsFileError(f"{where}: decimals must be a whole number")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise PoolsFileError(f"{where}: decimals must be 0 to {MAX_DECIMALS}")
    return Token(upper, str(_address(where, spec["mint"], "mint")), decimals)


def _entry(path: Path, where: str, spec: Mapping[str, Any]) -> PoolEntry:
    here = f"POOLS_FILE {path} {where}"
    if set(spec) != {"venue", "pair", "address"}:
        raise PoolsFileError(f"{here}: needs exactly `venue`, `pair` and `address`")
    if spec["venue"] not in VENUES:
        raise PoolsFileError(f"{here}: venue must be one of {', '.join(VENUES)}")
    parts = spec["pair"].split("/") if isinstance(spec["pair"], str) else []
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise PoolsFileError(f"{here}: pair must look like SOL/USDC")
    base, quote = (p.strip().upper() for p in parts)
    address = _address(here, spec["address"], "address")
    return PoolEntry(spec["venue"], base, quote, address, where)


def _address(where: str, value: Any, name: str) -> Pubkey:
    wrong = PoolsFileError(f"{where}: {name} {value!r} is no Solana address")
    if not isinstance(value, str):
        raise wrong
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise wrong from exc


async def configured_pools(chain: Chain, file: PoolsFile, tokens: TokenRegistry) -> ConfiguredPools:
    """The file's pools, their keys read off their accounts on `chain`; `PoolsFileError`
    for a pool that is missing, of another program or type, or of other mints."""
    accounts = await chain.accounts([entry.address for entry in file.pools])
    raydium: dict[frozenset[str], tuple[Pair, CpmmPoolKeys]] = {}
    meteora: dict[frozenset[str], tuple[Pair, DlmmPairKeys]] = {}
    for entry, account in zip(file.pools, accounts, strict=True):
        here = f"POOLS_FILE {file.path} {entry.where} ({entry.venue} {entry.address})"
        try:
            base = tokens.find(entry.base, field="pair")
            quote = tokens.find(entry.quote, field="pair")
        except RequestError as exc:
            raise PoolsFileError(f"{here}: {exc.message}") from exc
        if account is None:
            raise PoolsFileError(f"{here}: no such account on the cluster")
        mints = frozenset((base.swap_mint, quote.swap_mint))
        try:
            if entry.venue == "raydium":
                keys = pool_accounts.cpmm_keys(entry.address, account)
                found = frozenset((str(keys.mint0), str(keys.mint1)))
                raydium[mints] = ((base, quote), keys)
            else:
                pair = pool_accounts.dlmm_keys(entry.address, account)
                found = frozenset((str(pair.mint_x), str(pair.mint_y)))
                meteora[mints] = ((base, quote), pair)
        except ValueError as exc:
            raise PoolsFileError(f"{here}: {exc}") from exc
        if found != mints:
            raise PoolsFileError(f"{here}: the pool trades {' and '.join(sorted(found))}, "
                                 f"not {base.symbol} and {quote.symbol}")  # fmt: skip
    return ConfiguredPools(raydium, meteora)
