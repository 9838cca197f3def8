"""The local chain for tests: the real program binaries (from `PROGRAMS_DIR` or
`../shared/chain`; missing binaries fail the test, naming the command that fetches them),
a genesis from a fixed seed, and the chain venues on it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from solders.keypair import Keypair

from order_engine.chain.faults import ChainFaults
from order_engine.chain.genesis import GenesisSpec
from order_engine.chain.local import LocalChain, open_local_chain
from order_engine.chain.programs import (
    ProgramBinaries,
    ProgramsNotFoundError,
    default_locations,
    find_programs,
)
from order_engine.domain.tokens import TokenRegistry
from order_engine.venues.chain.base import ChainVenue, ChainVenueSettings
from order_engine.venues.chain.inflight_board import InFlightBoard
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.raydium import RaydiumChainVenue
from order_engine.venues.chain.wallets import ChainWallets

_BINARIES: list[ProgramBinaries] = []


def program_binaries() -> ProgramBinaries:
    if not _BINARIES:
        env = os.environ.get("PROGRAMS_DIR")
        try:
            found = find_programs(default_locations(Path(env) if env else None, Path("data")))
        except ProgramsNotFoundError as exc:
            pytest.fail(f"{exc} (`order-engine programs fetch --rpc URL` writes them)")
        _BINARIES.append(found)
    return _BINARIES[0]


def local_chain(
    wallet: Keypair,
    *,
    seed: int = 7,
    data_dir: Path | None = None,
    slot_s: float = 0.002,  # fast slots: 150 of them (a blockhash's life) pass in 0.3 s
    instant: bool = True,
    faults: ChainFaults | None = None,
    wallet_sol: int = 100_000,
    now: Callable[[], float] = time.time,
    tokens: TokenRegistry | None = None,
) -> LocalChain:
    """The chain; its launches register tokens in `tokens` (default: a registry of its
    own, `local.launches.tokens`)."""
    tokens = TokenRegistry() if tokens is None else tokens
    spec = GenesisSpec(seed, tokens.built_in(), wallet.pubkey(), wallet_sol=wallet_sol)
    return open_local_chain(
        program_binaries(),
        spec,
        tokens=tokens,
        data_dir=data_dir,
        slot_s=slot_s,
        instant=instant,
        faults=faults,
        now=now,
    )


def chain_venues(
    local: LocalChain,
    wallet: Keypair,
    settings: ChainVenueSettings | None = None,
    *,
    wallets: ChainWallets | None = None,
    board: InFlightBoard | None = None,
) -> list[ChainVenue]:
    """Raydium and Meteora on `local`, knowing the tokens its launches register; `wallets`:
    accounts' wallets beside the engine's `wallet`; `board`: other processes' swaps."""
    by_mint = local.launches.tokens.by_mint
    args = (local.chain, wallet, by_mint, settings or ChainVenueSettings(poll_s=0))
    return [
        RaydiumChainVenue("raydium", *args, wallets=wallets, board=board),
        MeteoraChainVenue("meteora", *args, wallets=wallets, board=board),
    ]
