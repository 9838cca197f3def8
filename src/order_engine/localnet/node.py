"""The node `order-engine localnet` serves: the local chain opened exactly as the embedded
engine opens it (same settings, same genesis, same journal in `DATA_DIR/chain.db`), the
background market trading on it, and a faucet for `requestAirdrop`."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from order_engine.bootstrap.factories import ConfigurationError
from order_engine.bootstrap.venues import _market, _open_chain
from order_engine.chain import spl
from order_engine.chain.genesis import derived_keypair
from order_engine.chain.inprocess import InProcessChain
from order_engine.chain.local import LocalChain
from order_engine.chain.market import BackgroundMarket
from order_engine.chain.memo import MEMO_PROGRAM
from order_engine.chain.programs import (
    ProgramBinaries,
    ProgramsNotFoundError,
    default_locations,
    find_programs,
)
from order_engine.chain.wallet import WALLET_FILE, WalletFileError, load_or_create_wallet
from order_engine.domain.errors import TransactionRejectedError
from order_engine.domain.tokens import TokenRegistry
from order_engine.settings import Settings

log = logging.getLogger(__name__)
FAUCET_FEE = 5_000  # lamports: one signature's fee, paid by the faucet


@dataclass
class Localnet:
    local: LocalChain
    binaries: ProgramBinaries
    wallet: Pubkey  # the engine's wallet, funded by the genesis
    market: BackgroundMarket | None
    faucet: Keypair
    _closed: bool = field(default=False, init=False)

    @property
    def chain(self) -> InProcessChain:
        return self.local.chain

    @property
    def genesis_hash(self) -> str:
        """The genesis hash as `getGenesisHash` answers it (base58 of the chain's digest)."""
        return str(Hash(bytes.fromhex(self.chain.genesis_hash)))

    def start(self) -> None:
        """Start the background market (in the running event loop)."""
        if self.market is not None:
            self.market.start()

    async def close(self) -> None:
        """Stop the market, snapshot the chain and close its journal (once)."""
        if self._closed:
            return
        self._closed = True
        if self.market is not None:
            await self.market.stop()
        await self.chain.close()

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """Credit `lamports` to `to`: the faucet is credited (a journaled account write),
        then a real transfer from it executes, so the airdrop has a signature whose status
        and details the chain knows. A transfer the chain refuses (e.g. a new account left
        below its rent exemption) still answers its signature, as Solana's faucet does."""
        faucet = self.faucet.pubkey()
        self.chain.airdrop(faucet, lamports + FAUCET_FEE)
        blockhash = self.chain.blockhash_now()
        memo = Instruction(MEMO_PROGRAM, f"airdrop:{secrets.token_hex(8)}".encode(), [])
        body = [spl.transfer_lamports(faucet, to, lamports), memo]
        message = Message.new_with_blockhash(body, faucet, blockhash)
        tx = Transaction([self.faucet], message, blockhash)
        try:
            self.chain.execute(tx)
        except TransactionRejectedError as exc:
            log.info("airdrop of %d lamports to %s failed: %s", lamports, to, exc)
        return str(tx.signatures[0])


def open_localnet(settings: Settings) -> Localnet:
    """The chain of `settings` (genesis or restored); `ConfigurationError` in one line
    when it cannot open (no program binaries, a bad wallet file, another chain's data)."""
    s = settings
    try:
        binaries = find_programs(default_locations(s.programs_dir, s.data_dir))
        wallet = load_or_create_wallet(s.wallet_keypair or s.data_dir / WALLET_FILE)
    except (ProgramsNotFoundError, WalletFileError) as exc:
        raise ConfigurationError(str(exc)) from exc
    local = _open_chain(s, binaries, TokenRegistry(), wallet.pubkey())
    faucet = derived_keypair(s.rng_seed, "localnet-faucet")
    return Localnet(local, binaries, wallet.pubkey(), _market(s, local), faucet)
