"""A pools file (`POOLS_FILE`): the pools and tokens to trade on a cluster the engine did
not create. Pool keys read off the pools' own accounts are the keys the local chain's
listing derives; the file is checked line by line, then against the chain; chain venues
given the configured pools trade those pools and no other."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from order_engine.chain import listing, pool_accounts
from order_engine.chain.local import LocalChain
from order_engine.chain.port import AccountInfo
from order_engine.domain.errors import NoRouteError
from order_engine.domain.tokens import TOKENS, TokenRegistry
from order_engine.venues.chain.base import ChainVenueSettings
from order_engine.venues.chain.book import ConfiguredPools
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.pools import pool_views
from order_engine.venues.chain.pools_file import (
    PoolsFileError,
    configured_pools,
    read_pools_file,
)
from order_engine.venues.chain.raydium import RaydiumChainVenue
from tests.chain_helpers import local_chain
from tests.unit.fakes import Rig

SOL, USDC, BONK, JUP = TOKENS["SOL"], TOKENS["USDC"], TOKENS["BONK"], TOKENS["JUP"]
DEVNET_USDC = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
TOKENS_R = TokenRegistry()


@pytest.fixture(scope="module")
def wallet() -> Keypair:
    return Keypair()


@pytest.fixture(scope="module")
def local(wallet: Keypair) -> LocalChain:
    return local_chain(wallet)


async def _account(local: LocalChain, key: Pubkey) -> AccountInfo:
    (found,) = await local.chain.accounts([key])
    assert found is not None
    return found


async def test_keys_read_off_every_pool_are_the_keys_the_listing_derives(
    local: LocalChain,
) -> None:
    for base, quote in listing.pool_pairs(TOKENS.values()):
        listed = listing.raydium_keys(base, quote)
        assert pool_accounts.cpmm_keys(listed.pool, await _account(local, listed.pool)) == listed
        pair = listing.dlmm_keys(base, quote)
        read = pool_accounts.dlmm_keys(pair.lb_pair, await _account(local, pair.lb_pair))
        assert read == dataclasses.replace(pair, preset=None)


async def test_an_account_of_another_program_or_a_token_2022_pool_is_refused(
    local: LocalChain,
) -> None:
    pool = listing.raydium_keys(SOL, USDC)
    pair = listing.dlmm_keys(SOL, USDC)
    with pytest.raises(ValueError, match="not a Meteora DLMM account"):
        pool_accounts.dlmm_keys(pool.pool, await _account(local, pool.pool))
    with pytest.raises(ValueError, match="not a Raydium CPMM account"):
        pool_accounts.cpmm_keys(pool.vault0, await _account(local, pool.vault0))
    account = await _account(local, pair.lb_pair)
    data = bytearray(account.data)
    data[pool_accounts.LB_PAIR_PROGRAM_FLAGS] = 1  # token X under Token-2022
    with pytest.raises(ValueError, match="Token-2022"):
        pool_accounts.dlmm_keys(pair.lb_pair, dataclasses.replace(account, data=bytes(data)))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pools.toml"
    path.write_text(text)
    return path


def _pool(venue: str, pair: str, address: object) -> str:
    return f'[[pools]]\nvenue = "{venue}"\npair = "{pair}"\naddress = "{address}"\n'


def test_a_file_declares_tokens_over_the_built_in_ones_and_names_pools(tmp_path: Path) -> None:
    text = (
        f'[tokens.USDC]\nmint = "{DEVNET_USDC}"\ndecimals = 6\n'
        f'[tokens.NEWT]\nmint = "{Keypair().pubkey()}"\ndecimals = 9\n'
        + _pool("raydium", "sol/USDC", listing.raydium_keys(SOL, USDC).pool)
    )
    found = read_pools_file(_write(tmp_path, text))
    assert [(p.venue, p.base, p.quote) for p in found.pools] == [("raydium", "SOL", "USDC")]
    registry = TokenRegistry(found.registry_tokens())
    assert registry.find("USDC", field="t").mint == DEVNET_USDC
    assert registry.find("NEWT", field="t").decimals == 9
    assert registry.find("SOL", field="t") == SOL and registry.find("BONK", field="t") == BONK


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pools = [", "not valid TOML"),
        ("[other]\n", "unknown section 'other'"),
        ("", "names no pool"),
        (_pool("orca", "SOL/USDC", Pubkey.default()), "venue must be one of raydium, meteora"),
        (_pool("raydium", "SOLUSDC", Pubkey.default()), "pair must look like SOL/USDC"),
        (_pool("raydium", "SOL/USDC", "not-an-address"), "is no Solana address"),
        ('[[pools]]\nvenue = "raydium"\npair = "SOL/USDC"\n', "needs exactly `venue`"),
        (_pool("raydium", "SOL/USDC", Pubkey.default()) * 2, "a second raydium pool"),
        (f'[tokens.SOL]\nmint = "{DEVNET_USDC}"\ndecimals = 9\n', "same on every cluster"),
        (f'[tokens.USDC]\nmint = "{DEVNET_USDC}"\ndecimals = 99\n', "decimals must be 0 to"),
        ("[tokens.USDC]\nmint = 5\ndecimals = 6\n", "mint 5 is no Solana address"),
        ('[tokens.1X]\nmint = "x"\ndecimals = 6\n', "tokens.1X: symbol must be 2 to 10"),
    ],
)
def test_every_mistake_in_the_file_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PoolsFileError, match=problem) as caught:
        read_pools_file(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PoolsFileError, match="cannot read it"):
        read_pools_file(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (_pool("raydium", "SOL/USDC", Keypair().pubkey()), "no such account"),
        (_pool("meteora", "SOL/USDC", listing.raydium_keys(SOL, USDC).pool), "not a Meteora"),
        (_pool("raydium", "BONK/USDC", listing.raydium_keys(SOL, USDC).pool), "not BONK and"),
        (_pool("raydium", "DOGE/USDC", listing.raydium_keys(SOL, USDC).pool), "unknown token"),
    ],
)
async def test_a_pool_the_chain_does_not_hold_as_written_stops_start_up(
    local: LocalChain, tmp_path: Path, entry: str, problem: str
) -> None:
    file = read_pools_file(_write(tmp_path, entry))
    with pytest.raises(PoolsFileError, match=problem) as caught:
        await configured_pools(local.chain, file, TokenRegistry())
    assert "pools[0]" in str(caught.value)


async def _configured(local: LocalChain, tmp_path: Path) -> ConfiguredPools:
    text = _pool("raydium", "SOL/USDC", listing.raydium_keys(SOL, USDC).pool) + _pool(
        "meteora", "USDC/BONK", listing.dlmm_keys(BONK, USDC).lb_pair
    )
    return await configured_pools(local.chain, read_pools_file(_write(tmp_path, text)), TOKENS_R)


async def test_venues_trade_the_configured_pools_and_no_other(
    local: LocalChain, wallet: Keypair, tmp_path: Path
) -> None:
    book = await _configured(local, tmp_path)
    args = (local.chain, wallet, TOKENS_R.by_mint, ChainVenueSettings(poll_s=0))
    raydium = RaydiumChainVenue("raydium", *args, pools=book)
    meteora = MeteoraChainVenue("meteora", *args, pools=book)
    assert (await raydium.quote(SOL, USDC, Decimal(2))).amount_out > 0
    assert (await meteora.quote(USDC, BONK, Decimal(10))).amount_out > 0
    with pytest.raises(NoRouteError, match="POOLS_FILE names no pool for SOL/BONK"):
        await raydium.quote(SOL, BONK, Decimal(1))
    with pytest.raises(NoRouteError, match="names no pair for SOL/USDC"):
        await meteora.quote(SOL, USDC, Decimal(1))
    views = await pool_views([raydium, meteora], TOKENS_R.values())
    shown = [(v.venue, v.pair, v.address) for v in views.pools]
    assert shown == [
        ("raydium", "SOL/USDC", str(listing.raydium_keys(SOL, USDC).pool)),
        ("meteora", "USDC/BONK", str(listing.dlmm_keys(BONK, USDC).lb_pair)),
    ]
    bonk = next(v for v in views.pools if v.venue == "meteora")
    assert bonk.price is not None and Decimal("1e3") < bonk.price < Decimal("1e7")  # BONK/USDC
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order("SOL", "USDC", "3")
    assert await rig.run(order_id) == []
    order = await rig.store.get(order_id)
    assert [s for s, _ in await rig.statuses(order_id)][-1] == "confirmed"
    assert {leg.dex for leg in order.legs} == {"raydium"}
