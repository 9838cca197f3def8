"""The local chain's genesis, deterministic from the seed: the registry's mints, a funded
liquidity provider and the engine's wallet, one Raydium CPMM pool and one Meteora DLMM
pair per pair of built-in tokens, opened through the programs' own instructions.

Written directly (`write_account`), because only an admin key we do not have could create
them: the mints at the registry's (mainnet) addresses, with our genesis authority as mint
authority; the native mint; Raydium's AmmConfig and its create-pool-fee receiver; DLMM's
preset parameters. Everything else is a real, signed, journaled transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction

from order_engine.chain import listing, raydium, spl
from order_engine.chain.dlmm_genesis import open_dlmm_pair, write_presets
from order_engine.chain.inprocess import InProcessChain
from order_engine.domain.tokens import Token

GENESIS_VERSION = "1"
LAMPORTS = 10**9
AUTHORITY_SOL = 10_000_000  # the genesis authority's SOL: pool liquidity, rent and fees
OPENING_PRICES_USD: dict[str, Decimal] = {
    "WSOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "BONK": Decimal("0.00002"),
    "JUP": Decimal("0.9"),
    "RAY": Decimal("2.1"),
    "WIF": Decimal("1.8"),
}


@dataclass(frozen=True, slots=True)
class GenesisSpec:
    seed: int
    tokens: tuple[Token, ...]  # the registry's built-in tokens (SOL trades as wSOL)
    wallet: Pubkey  # the engine's wallet, funded below
    wallet_sol: int = 100_000
    wallet_usd_per_token: Decimal = Decimal(10_000_000)
    prices_usd: Mapping[str, Decimal] = field(default_factory=lambda: dict(OPENING_PRICES_USD))

    def digest(self, programs_digest: str) -> str:
        """The genesis hash: what the chain is made of (a different one is another chain)."""
        parts = [GENESIS_VERSION, str(self.seed), programs_digest, str(self.wallet)]
        parts += [f"{t.symbol}:{t.swap_mint}:{t.decimals}" for t in self.tokens]
        parts += [f"{self.wallet_sol}", f"{self.wallet_usd_per_token}"]
        parts += [f"{k}={v}" for k, v in sorted(self.prices_usd.items())]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def derived_keypair(seed: int, role: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"order-engine:{seed}:{role}".encode()).digest())


class GenesisBuilder:
    """Sends the genesis transactions through one `InProcessChain`."""

    def __init__(self, chain: InProcessChain, spec: GenesisSpec) -> None:
        self.chain, self.spec = chain, spec
        self.authority = derived_keypair(spec.seed, "genesis-authority")
        self.authority_key = self.authority.pubkey()
        self.prices: dict[str, Decimal] = dict(spec.prices_usd)  # opening prices (+ launches)

    def ata(self, mint: Pubkey) -> Pubkey:
        """The authority's token account of `mint`."""
        return get_associated_token_address(self.authority_key, mint)

    def send(
        self, ixs: Sequence[Instruction], signers: Sequence[Keypair] = (), cu: int | None = None
    ) -> None:
        if cu is not None:
            ixs = [set_compute_unit_limit(cu), *ixs]
        blockhash = self.chain.blockhash_now()
        message = Message.new_with_blockhash(list(ixs), self.authority_key, blockhash)
        self.chain.execute(Transaction([self.authority, *signers], message, blockhash))

    def run(self) -> None:
        tokens = listing.pool_tokens(self.spec.tokens)
        self.chain.airdrop(self.authority_key, AUTHORITY_SOL * LAMPORTS)
        self._write_mints(tokens)
        self._write_program_config()
        self._fund_authority(tokens)
        for a, b in listing.pool_pairs(tokens):
            self._open_raydium(a, b, self._depth("raydium", a, b))
            open_dlmm_pair(self, a, b, self._depth("meteora", a, b))
        self._fund_wallet(tokens)

    def price(self, token: Token) -> Decimal:
        return self.prices[listing.pool_symbol(token)]

    def base_units(self, token: Token, usd: Decimal) -> int:
        return int(usd / self.price(token) * 10**token.decimals)

    def _depth(self, venue: str, a: Token, b: Token) -> Decimal:
        return listing.DEPTH_USD[venue][listing.tier(a, b)]

    def open_pool(self, venue: str, a: Token, b: Token, depth_usd: Decimal) -> None:
        """Open `venue`'s pool of `a` and `b` at their prices, `depth_usd` a side."""
        if venue == "raydium":
            self._open_raydium(a, b, depth_usd)
        elif venue == "meteora":
            open_dlmm_pair(self, a, b, depth_usd)
        else:
            raise ValueError(f"no program for venue {venue!r}")

    def _write_mints(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            native = token.swap_mint == str(spl.NATIVE_MINT)
            authority = None if native else self.authority_key
            data = spl.mint_account_bytes(authority, 0, token.decimals)
            account = Account(self.chain.rent(len(data)), data, spl.TOKEN_PROGRAM, False, 0)
            self.chain.write_account(listing.mint_of(token), account)

    def _write_program_config(self) -> None:
        index = listing.RAYDIUM_CONFIG_INDEX
        data = raydium.amm_config_account_bytes(
            index, listing.RAYDIUM_TRADE_FEE_RATE, 120_000, 40_000, 150_000_000,
            self.authority_key, self.authority_key,
        )  # fmt: skip
        program = raydium.RAYDIUM_CPMM_PROGRAM
        rent = self.chain.rent(len(data))
        self.chain.write_account(
            raydium.amm_config_address(index), Account(rent, data, program, False, 0)
        )
        receiver_rent = self.chain.rent(165)
        receiver = spl.native_token_account_bytes(self.authority_key, receiver_rent)
        self.chain.write_account(
            raydium.CREATE_POOL_FEE_RECEIVER,
            Account(receiver_rent, receiver, spl.TOKEN_PROGRAM, False, 0),
        )
        write_presets(self.chain)

    def _fund_authority(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            mint = listing.mint_of(token)
            ata, create = spl.create_ata_idempotent(self.authority_key, self.authority_key, mint)
            units = self.base_units(token, Decimal(100_000_000))
            if mint == spl.NATIVE_MINT:
                lamports = (AUTHORITY_SOL // 2) * LAMPORTS
                fund = [spl.transfer_lamports(self.authority_key, ata, lamports)]
                self.send([create, *fund, spl.sync_native(ata)])
            else:
                self.send([create, spl.mint_to(mint, ata, self.authority_key, units)])

    def _open_raydium(self, a: Token, b: Token, depth: Decimal) -> None:
        keys = listing.raydium_keys(a, b)
        by_mint = {listing.mint_of(t): t for t in (a, b)}
        amount0 = self.base_units(by_mint[keys.mint0], depth)
        amount1 = self.base_units(by_mint[keys.mint1], depth)
        ix = raydium.initialize_ix(
            keys, self.authority_key, self.ata(keys.mint0), self.ata(keys.mint1), amount0, amount1
        )
        self.send([ix], cu=400_000)

    def _fund_wallet(self, tokens: Sequence[Token]) -> None:
        wallet = self.spec.wallet
        self.chain.airdrop(wallet, self.spec.wallet_sol * LAMPORTS)
        for token in tokens:
            mint = listing.mint_of(token)
            if mint == spl.NATIVE_MINT:
                continue  # the wallet holds native SOL and wraps it per swap
            ata, create = spl.create_ata_idempotent(self.authority_key, wallet, mint)
            units = self.base_units(token, self.spec.wallet_usd_per_token)
            self.send([create, spl.mint_to(mint, ata, self.authority_key, units)])


def run_genesis(chain: InProcessChain, spec: GenesisSpec) -> GenesisBuilder:
    builder = GenesisBuilder(chain, spec)
    builder.run()
    chain.advance_time(2)  # Raydium pools open one second after `initialize`
    return builder
