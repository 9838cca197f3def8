"""Venues by settings (`VENUES=chain|sim`): the real programs on the local chain, or the
product description's simulated venues. Only this module names either kind."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from solders.pubkey import Pubkey

from order_engine.bootstrap.factories import ConfigurationError
from order_engine.bootstrap.rpc_venues import rpc_venue_set
from order_engine.chain.faucet import ChainFaucet, in_process_airdrop
from order_engine.chain.faults import ChainFaults
from order_engine.chain.genesis import GenesisSpec, derived_keypair
from order_engine.chain.local import ChainMismatchError, LocalChain, open_local_chain
from order_engine.chain.market import BackgroundMarket, MarketSettings
from order_engine.chain.memo import ORDER_PREFIX
from order_engine.chain.port import Chain
from order_engine.chain.programs import (
    ProgramBinaries,
    ProgramsNotFoundError,
    default_locations,
    find_programs,
)
from order_engine.chain.wallet import WALLET_FILE, WalletFileError, load_or_create_wallet
from order_engine.domain.launches import Launch
from order_engine.domain.orders import Execution
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.account_ports import Faucet
from order_engine.engine.wallets import NoFaucet
from order_engine.settings import Settings
from order_engine.venues.base import Venue
from order_engine.venues.chain.base import ChainVenue, ChainVenueSettings
from order_engine.venues.chain.inflight_board import InFlightBoard
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.outcomes import landed_executions
from order_engine.venues.chain.raydium import RaydiumChainVenue
from order_engine.venues.chain.wallets import ChainWallets, Wallets
from order_engine.venues.sim.ledger import SwapLedger
from order_engine.venues.sim.simulated import apply_launch, b58encode, simulated_venues

log = logging.getLogger(__name__)
SLOT_S = 0.4  # a Solana slot, before the latency scale
NO_CHAIN = NoFaucet(
    "the simulated venues have no chain: wallets are funded on the chain venues (VENUES=chain)"
)
Executions = Callable[[str, str | None], Awaitable[list[Execution]]]
"""Every swap of an order that landed, by its order id and the wallet that paid for it."""


@dataclass
class VenueSet:
    kind: Literal["chain", "sim"]
    venues: list[Venue]
    open_pools: Callable[[Launch], bool]
    new_mint: Callable[[], str]
    executions: Executions
    chain: Chain | None = None
    wallet: str | None = None
    market: BackgroundMarket | None = None
    prepare: Callable[[Launch], Awaitable[None]] | None = None  # opens a launch's pool first
    wallets: ChainWallets | None = None  # the engine's and the accounts' (chain venues)
    faucet: Faucet = NO_CHAIN  # funds wallets (the local chain)


def resolve_venues(settings: Settings, command: str) -> tuple[str, ProgramBinaries | None]:
    """Which venues to run, and the binaries for chain venues. `VENUES=chain` without the
    binaries is an error; unset, `serve` falls back to `sim` and says so in one line."""
    wanted = settings.venues or ("chain" if command == "serve" else "sim")
    if settings.solana_rpc_url and settings.venues != "sim":
        return "rpc", None
    if wanted == "sim":
        return "sim", None
    if command in {"api", "worker"}:
        raise ConfigurationError(
            "VENUES=chain across processes needs a shared chain: set SOLANA_RPC_URL (e.g. "
            "`order-engine localnet`'s http://127.0.0.1:8899)"
        )
    try:
        return "chain", find_programs(default_locations(settings.programs_dir, settings.data_dir))
    except ProgramsNotFoundError as exc:
        if settings.venues == "chain":
            raise ConfigurationError(str(exc)) from exc
        log.warning("chain venues unavailable, using the simulated venues: %s", exc)
        return "sim", None


def chain_venue_set(
    settings: Settings,
    binaries: ProgramBinaries,
    tokens: TokenRegistry,
    accounts: Wallets | None = None,
) -> VenueSet:
    """The programs on the in-process chain; swaps signed by the accounts' wallets
    (`accounts`), else by the engine's."""
    s = settings
    try:
        wallet = load_or_create_wallet(s.wallet_keypair or s.data_dir / WALLET_FILE)
    except WalletFileError as exc:
        raise ConfigurationError(str(exc)) from exc
    local = _open_chain(s, binaries, tokens, wallet.pubkey())
    venue_settings = ChainVenueSettings(s.priority_fee_micro_lamports)
    wallets = ChainWallets(local.chain, wallet, accounts)
    args = (local.chain, wallet, tokens.by_mint, venue_settings)
    venues: list[ChainVenue] = [
        RaydiumChainVenue("raydium", *args, wallets=wallets),
        MeteoraChainVenue("meteora", *args, wallets=wallets),
    ]
    log.info(
        "chain venues: Raydium CPMM and Meteora DLMM programs from %s; wallet %s",
        binaries.source,
        wallet.pubkey(),
    )
    return VenueSet(
        "chain",
        list(venues),
        local.launches.open_pool,
        local.launches.new_mint,
        functools.partial(_chain_executions, local, venues),
        local.chain,
        str(wallet.pubkey()),
        _market(s, local),
        wallets=wallets,
        faucet=ChainFaucet(
            local.chain,
            in_process_airdrop(local.chain),
            [derived_keypair(s.rng_seed, "genesis-authority"), wallet],
        ),
    )


def _open_chain(
    s: Settings, binaries: ProgramBinaries, tokens: TokenRegistry, wallet: Pubkey
) -> LocalChain:
    spec = GenesisSpec(
        s.rng_seed, tokens.built_in(), wallet, s.wallet_funding_sol, s.wallet_funding_usd
    )
    faults = ChainFaults(
        s.chain_drop_rate,
        s.chain_landing_delay_slots,
        s.chain_read_error_rate,
        s.chain_send_error_rate,
        s.rng_seed,
    )
    try:
        return open_local_chain(
            binaries,
            spec,
            tokens=tokens,
            data_dir=s.data_dir,
            slot_s=SLOT_S * s.latency_scale or SLOT_S,
            instant=s.latency_scale == 0,
            faults=faults,
        )
    except ChainMismatchError as exc:
        raise ConfigurationError(str(exc)) from exc


def _market(s: Settings, local: LocalChain) -> BackgroundMarket | None:
    """The background market (trading as the genesis authority), or None when off."""
    if s.market_interval_s <= 0:
        return None
    settings = MarketSettings(
        s.market_interval_s,
        s.market_volatility_bps,
        s.market_flow_usd,
        s.market_noise_trades,
        s.rng_seed,
        s.market_arbitrage,
    )
    return BackgroundMarket(local.chain, derived_keypair(s.rng_seed, "genesis-authority"), settings)


async def _chain_executions(
    local: LocalChain, venues: list[ChainVenue], order_id: str, _payer: str | None = None
) -> list[Execution]:
    """Every swap of `order_id` that landed on the chain (found by its memo)."""
    signatures = local.chain.signatures_with_memo(f"{ORDER_PREFIX}{order_id}")
    return landed_executions(venues, (local.chain.details(s) for s in signatures))


def sim_venue_set(settings: Settings, ledger: SwapLedger, tokens: TokenRegistry) -> VenueSet:
    s = settings
    venues = simulated_venues(
        seed=s.rng_seed,
        latency_scale=s.latency_scale,
        failure_rate=s.failure_rate,
        ledger=ledger,
        tokens=tokens,
    )

    async def executions(order_id: str, _payer: str | None = None) -> list[Execution]:
        return [e.execution for e in await ledger.entries(order_id) if e.execution]

    return VenueSet(
        "sim",
        list(venues),
        functools.partial(apply_launch, venues),
        lambda: b58encode(secrets.token_bytes(32)),
        executions,
    )


async def make_venue_set(
    settings: Settings,
    command: str,
    ledger: SwapLedger,
    tokens: TokenRegistry,
    accounts: Wallets | None = None,
    in_flight: InFlightBoard | None = None,
) -> VenueSet:
    """The venues by settings, knowing (and registering launched tokens in) `tokens`, the
    engine's registry; chain venues sign with the accounts' wallets (`accounts`), and
    over RPC price pools behind the other processes' swaps on `in_flight` too."""
    kind, binaries = resolve_venues(settings, command)
    if kind == "rpc":
        return await rpc_venue_set(settings, tokens, accounts, in_flight)
    if kind == "chain" and binaries is not None:
        return chain_venue_set(settings, binaries, tokens, accounts)
    return sim_venue_set(settings, ledger, tokens)
