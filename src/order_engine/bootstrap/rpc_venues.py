"""Chain venues over Solana JSON-RPC (`SOLANA_RPC_URL`): every process of a deployment
reads and sends through one cluster (`order-engine localnet` here), as it would on devnet
or mainnet. The wallet (`WALLET_KEYPAIR`, default `DATA_DIR/wallet.json`) must exist and be
funded on that cluster (`order-engine localnet` funds the one it is given).

Which pools: on `order-engine localnet`, the local chain's listing (every pair of known
tokens, launched ones included). With `POOLS_FILE` (devnet, mainnet), only the pools the
file names, checked against the cluster at start-up, and the file's tokens.

Token launches are real transactions on the local chain: the process that launches opens
the pool with the wallet (`RpcLaunches.prepare`) before it announces the launch; every
process then registers the new token, and its venues find the pool by the mints. With a
pools file there are no launches (`LaunchesUnavailableError`)."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.bootstrap.factories import ConfigurationError
from order_engine.chain.faucet import ChainFaucet
from order_engine.chain.genesis import derived_keypair
from order_engine.chain.memo import ORDER_PREFIX
from order_engine.chain.rpc_launches import RpcLaunches
from order_engine.chain.wallet import WALLET_FILE, WalletFileError, load_wallet
from order_engine.domain.errors import ChainUnavailableError, LaunchesUnavailableError
from order_engine.domain.launches import Launch
from order_engine.domain.orders import Execution
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.account_ports import Faucet
from order_engine.engine.wallets import NoFaucet
from order_engine.settings import Settings
from order_engine.venues.chain.base import ChainVenue, ChainVenueSettings
from order_engine.venues.chain.book import ListedPools, PoolBook
from order_engine.venues.chain.inflight_board import InFlightBoard
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.outcomes import landed_executions
from order_engine.venues.chain.pools_file import PoolsFileError, configured_pools, read_pools_file
from order_engine.venues.chain.raydium import RaydiumChainVenue
from order_engine.venues.chain.wallets import ChainWallets, Wallets

if TYPE_CHECKING:
    from order_engine.bootstrap.venues import VenueSet

log = logging.getLogger(__name__)


async def rpc_venue_set(
    settings: Settings,
    tokens: TokenRegistry,
    accounts: Wallets | None = None,
    in_flight: InFlightBoard | None = None,
) -> VenueSet:
    """Swaps signed by the accounts' wallets (`accounts`), else by the engine's; pools
    priced behind the other processes' swaps in flight on `in_flight` too."""
    from order_engine.bootstrap.venues import VenueSet  # noqa: PLC0415 (a cycle otherwise)

    s = settings
    path = s.wallet_keypair or s.data_dir / WALLET_FILE
    try:
        wallet = load_wallet(path)
    except WalletFileError as exc:
        raise ConfigurationError(f"{exc} (the wallet the RPC chain funds)") from exc
    url = str(s.solana_rpc_url)
    try:
        chain = await RpcChain.connect(
            url, timeout_s=s.rpc_timeout_s, skip_preflight=s.rpc_skip_preflight
        )
    except ChainUnavailableError as exc:
        raise ConfigurationError(f"SOLANA_RPC_URL {url}: {exc.message}") from exc
    try:
        book = await _pool_book(s, chain, tokens)
    except BaseException:
        await chain.close()
        raise
    args = (chain, wallet, tokens.by_mint, ChainVenueSettings(s.priority_fee_micro_lamports))
    wallets = ChainWallets(chain, wallet, accounts)
    venues: list[ChainVenue] = [
        RaydiumChainVenue("raydium", *args, pools=book, wallets=wallets, board=in_flight),
        MeteoraChainVenue("meteora", *args, pools=book, wallets=wallets, board=in_flight),
    ]
    log.info("chain venues over %s (genesis %s); wallet %s; pools %s", url,
             chain.genesis_hash[:12], wallet.pubkey(), s.pools_file or "listed")  # fmt: skip
    launches = RpcLaunches(chain, wallet, tokens)
    return VenueSet(
        "chain",
        list(venues),
        launches.register,
        launches.new_mint,
        functools.partial(_executions, chain, venues, str(wallet.pubkey())),
        chain,
        str(wallet.pubkey()),
        prepare=launches.prepare if s.pools_file is None else _no_launches,
        wallets=wallets,
        faucet=_faucet(s, chain, wallet),
    )


def _faucet(settings: Settings, chain: RpcChain, wallet: Keypair) -> Faucet:
    """`order-engine localnet` funds wallets: SOL by its faucet, tokens minted by the local
    chain's genesis authority (the same `RNG_SEED`) or the engine's wallet (launches)."""
    if settings.pools_file is not None:
        return NoFaucet(
            "this engine trades the pools of POOLS_FILE on a cluster it did not create: "
            "fund the accounts' wallets on that cluster"
        )
    authority = derived_keypair(settings.rng_seed, "genesis-authority")
    return ChainFaucet(chain, chain.request_airdrop, [authority, wallet])


def token_registry(settings: Settings) -> TokenRegistry:
    """The engine's registry: the built-in tokens, with the pools file's (if any)."""
    if settings.pools_file is None:
        return TokenRegistry()
    try:
        return TokenRegistry(read_pools_file(settings.pools_file).registry_tokens())
    except PoolsFileError as exc:
        raise ConfigurationError(str(exc)) from exc


async def _pool_book(settings: Settings, chain: RpcChain, tokens: TokenRegistry) -> PoolBook:
    if settings.pools_file is None:
        return ListedPools()
    try:
        return await configured_pools(chain, read_pools_file(settings.pools_file), tokens)
    except PoolsFileError as exc:
        raise ConfigurationError(str(exc)) from exc


async def _no_launches(launch: Launch) -> None:
    raise LaunchesUnavailableError(
        f"cannot launch {launch.symbol}: this engine trades the pools of POOLS_FILE on a "
        "cluster it did not create; launches open pools on `order-engine localnet` only"
    )


async def _executions(
    chain: RpcChain, venues: list[ChainVenue], wallet: str, order_id: str, payer: str | None
) -> list[Execution]:
    """Every swap of `order_id` the chain holds (the transactions of the wallet that paid
    for them, default the engine's, with its memo), landed, oldest first."""
    paid_by = Pubkey.from_string(payer or wallet)
    signatures = await chain.signatures_with_memo(paid_by, f"{ORDER_PREFIX}{order_id}")
    return landed_executions(venues, [await chain.transaction(s) for s in signatures])
