"""Token launches on a shared chain, through any `Chain` (JSON-RPC in production): before a
launch is announced, the engine's wallet opens its pool with real signed transactions —
the mint (created and initialised with its own keypair, the wallet its mint authority), a
supply minted to the wallet, then the pool on the program the launch names, at its price
and depth, against the quote token the wallet holds (native SOL wrapped inside the
depositing transaction, so no other transaction of the wallet can touch it).

Every process then only registers the launched token (`register`): the pool's addresses
follow from the two mints (`chain.listing`)."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction

from order_engine.chain import listing, raydium, spl
from order_engine.chain.dlmm_genesis import UsdPrice, base_units, dlmm_opening
from order_engine.chain.genesis import OPENING_PRICES_USD
from order_engine.chain.port import Chain, Commitment
from order_engine.domain.errors import (
    ChainUnavailableError,
    RequestError,
    TransactionRejectedError,
)
from order_engine.domain.launches import Launch
from order_engine.domain.tokens import Token, TokenRegistry

log = logging.getLogger(__name__)
SUPPLY_DEPTHS = 4  # the wallet mints this many pool depths of a launched token
RAYDIUM_INIT_CU = 400_000  # `initialize` (with SOL wrapped) takes ~121k
MAX_U64 = 2**64 - 1
RESEND_EVERY_S = 1.0  # a transaction not seen yet is sent again (it executes once)
PROBE_SHARE = 1_000  # the probe swap sells 1/1000 of the pool's side of the new token
_RENT = struct.Struct("<Qd")  # Rent sysvar: lamports per byte-year, exemption threshold
_DEFAULT_RENT = (3_480, 2.0)
_ACCOUNT_OVERHEAD = 128  # bytes Solana's rent counts on top of an account's data


class RpcLaunches:
    """Opens launched tokens' pools on `chain`, paid by `wallet`; registers launched
    tokens in `tokens` (the engine's registry)."""

    def __init__(
        self,
        chain: Chain,
        wallet: Keypair,
        tokens: TokenRegistry,
        *,
        prices_usd: Mapping[str, Decimal] = OPENING_PRICES_USD,
        poll_s: float = 0.05,
        timeout_s: float = 30.0,
    ) -> None:
        self._chain, self._wallet, self._me = chain, wallet, wallet.pubkey()
        self._tokens, self._prices = tokens, dict(prices_usd)  # by pool symbol
        self._poll_s, self._timeout_s = poll_s, timeout_s
        self._mint_keys: dict[str, Keypair] = {}

    def new_mint(self) -> str:
        """A fresh mint address (its keypair is kept to create the mint in `prepare`)."""
        keypair = Keypair()
        self._mint_keys[str(keypair.pubkey())] = keypair
        return str(keypair.pubkey())

    def register(self, launch: Launch) -> bool:
        """The launched token joins this process's registry (its pool exists: `prepare`
        opened it before the launch was announced). `ValueError` for a clashing symbol."""
        token = self._tokens.register(Token(launch.symbol, launch.mint, launch.decimals))
        quote = self._tokens.find(launch.quote, field="quote")
        if listing.pool_symbol(quote) in self._prices:
            self._prices[token.symbol] = launch.price * self._prices[listing.pool_symbol(quote)]
        return True

    async def prepare(self, launch: Launch) -> None:
        """Create the mint, mint the supply and open the pool, each transaction confirmed;
        a Raydium pool also trades (its open time passed) when this returns."""
        keypair = self._mint_keys.pop(launch.mint, None)
        if keypair is None:
            raise RequestError(f"the mint {launch.mint} was not made here", field="mint")
        openers = {"raydium": self._open_raydium, "meteora": self._open_dlmm}
        if launch.venue not in openers:
            raise RequestError(f"no program for venue {launch.venue!r}", field="venue")
        token = Token(launch.symbol, launch.mint, launch.decimals)
        quote = self._tokens.find(launch.quote, field="quote")
        price = self._pricing(token, quote, launch.price)
        for side in (token, quote):  # the pool's amounts, checked before anything is sent
            _units(price, side, launch.depth_usd)
        supply = _units(price, token, launch.depth_usd * SUPPLY_DEPTHS)
        await self._create_mint(token, keypair, supply)
        await openers[launch.venue](token, quote, launch.depth_usd, price)
        log.info("%s/%s pool opened on %s (mint %s)", token.symbol, quote.symbol,
                 launch.venue, token.mint)  # fmt: skip

    def _pricing(self, token: Token, quote: Token, price: Decimal) -> UsdPrice:
        """USD prices: the quote's (opening prices, launched tokens), the new token's."""
        quote_usd = self._prices.get(listing.pool_symbol(quote))
        if quote_usd is None:
            raise RequestError(f"no USD price known for {quote.symbol}", field="quote")
        known = {**self._prices, token.symbol: price * quote_usd}
        return lambda t: known[listing.pool_symbol(t)]

    async def _create_mint(self, token: Token, keypair: Keypair, supply: int) -> None:
        me, mint = self._me, keypair.pubkey()
        rent = await self._rent(spl.MINT_SIZE)
        ata, create_ata = spl.create_ata_idempotent(me, me, mint)
        await self._send(
            [
                spl.create_account(me, mint, rent, spl.MINT_SIZE, spl.TOKEN_PROGRAM),
                spl.initialize_mint2(mint, token.decimals, me),
                create_ata,
                spl.mint_to(mint, ata, me, supply),
            ],
            [keypair],
        )

    async def _open_raydium(
        self, token: Token, quote: Token, depth_usd: Decimal, price: UsdPrice
    ) -> None:
        keys = listing.raydium_keys(token, quote)
        amounts = {listing.mint_of(t): _units(price, t, depth_usd) for t in (token, quote)}
        init = raydium.initialize_ix(
            keys, self._me, self._ata(keys.mint0), self._ata(keys.mint1),
            amounts[keys.mint0], amounts[keys.mint1],
        )  # fmt: skip
        await self._send(self._wrapping([init], amounts), cu=RAYDIUM_INIT_CU)
        await self._wait_open(keys, listing.mint_of(token), amounts[listing.mint_of(token)])

    async def _open_dlmm(
        self, token: Token, quote: Token, depth_usd: Decimal, price: UsdPrice
    ) -> None:
        opening = dlmm_opening(token, quote, depth_usd, price, self._me, self._ata, Keypair())
        *setup, deposit = opening.txs
        for tx in setup:
            await self._send(tx.ixs, tx.signers, cu=tx.cu)
        ixs = self._wrapping(deposit.ixs, opening.deposits)
        await self._send(ixs, deposit.signers, cu=deposit.cu)

    def _ata(self, mint: Pubkey) -> Pubkey:
        return get_associated_token_address(self._me, mint)

    def _wrapping(
        self, ixs: list[Instruction], deposits: Mapping[Pubkey, int]
    ) -> list[Instruction]:
        """`ixs` with the native SOL they deposit wrapped before (the wallet's wSOL
        account) and unwrapped after (the account closed, as the swaps leave it)."""
        lamports = deposits.get(spl.NATIVE_MINT)
        if not lamports:
            return ixs
        me = self._me
        ata, create = spl.create_ata_idempotent(me, me, spl.NATIVE_MINT)
        wrap = [create, spl.transfer_lamports(me, ata, lamports), spl.sync_native(ata)]
        return [*wrap, *ixs, spl.close_account(ata, me, me)]

    async def _rent(self, size: int) -> int:
        """The rent-exempt minimum of an account of `size` bytes (the Rent sysvar's)."""
        (found,) = await self._chain.accounts([spl.RENT_SYSVAR])
        per_byte_year, threshold = _DEFAULT_RENT
        if found is not None and len(found.data) >= _RENT.size:
            per_byte_year, threshold = _RENT.unpack_from(found.data)
        return int((_ACCOUNT_OVERHEAD + size) * per_byte_year * threshold)

    def _signed(
        self, ixs: Sequence[Instruction], signers: Sequence[Keypair], blockhash: Hash
    ) -> bytes:
        message = Message.new_with_blockhash(list(ixs), self._me, blockhash)
        return bytes(Transaction([self._wallet, *signers], message, blockhash))

    async def _send(
        self, ixs: list[Instruction], signers: Sequence[Keypair] = (), cu: int | None = None
    ) -> str:
        """Sign, send and wait until confirmed; `TransactionRejectedError` (with the
        program's logs) if it failed, `ChainUnavailableError` if it never landed."""
        if cu is not None:
            ixs = [set_compute_unit_limit(cu), *ixs]
        latest = await self._chain.latest_blockhash()
        wire = self._signed(ixs, signers, latest.blockhash)
        signature = await self._chain.send(wire)
        await self._confirm(signature, wire, latest.last_valid_block_height)
        return signature

    async def _confirm(self, signature: str, wire: bytes, last_valid: int) -> None:
        deadline = sent = time.monotonic()
        deadline += self._timeout_s
        while True:
            (status,) = await self._chain.signature_statuses([signature])
            if status is not None and status.err is not None:
                raise TransactionRejectedError(await self._failure(signature, status.err))
            if status is not None and status.commitment is not Commitment.PROCESSED:
                return
            now = time.monotonic()
            if status is None and await self._chain.block_height() > last_valid:
                raise ChainUnavailableError(f"launch transaction {signature} expired unseen")
            if now > deadline:
                raise ChainUnavailableError(f"launch transaction {signature} not confirmed")
            if status is None and now - sent >= RESEND_EVERY_S:
                sent = now
                await self._chain.send(wire)
            await asyncio.sleep(self._poll_s)

    async def _failure(self, signature: str, err: str) -> str:
        details = await self._chain.transaction(signature)
        logs = " | ".join(details.logs[-8:]) if details is not None else "no logs"
        return f"launch transaction {signature} failed ({err}): {logs}"

    async def _wait_open(self, keys: raydium.CpmmPoolKeys, mint: Pubkey, depth: int) -> None:
        """Until the pool trades: Raydium refuses swaps (6000) until the chain clock passes
        its open time (init + 1 s). A simulated swap asks the program itself (and on the
        local node, a simulation is also what brings its clock sysvar up to date)."""
        other = keys.mint1 if mint == keys.mint0 else keys.mint0
        out, create = spl.create_ata_idempotent(self._me, self._me, other)
        probe = raydium.swap_base_input_ix(
            keys, self._me, self._ata(mint), out, mint, max(1, depth // PROBE_SHARE), 0
        )
        deadline = time.monotonic() + self._timeout_s
        while True:
            latest = await self._chain.latest_blockhash()
            found = await self._chain.simulate(self._signed([create, probe], [], latest.blockhash))
            if found.err is None:
                return
            if found.custom_error != raydium.ERR_NOT_APPROVED:
                raise TransactionRejectedError(f"the new pool refuses a swap ({found.err})")
            if time.monotonic() > deadline:
                raise ChainUnavailableError("the new pool did not open in time")
            await asyncio.sleep(max(self._poll_s, 0.1))


def _units(price: UsdPrice, token: Token, usd: Decimal) -> int:
    """`usd` of `token` in base units; `RequestError` unless it is a positive u64."""
    units = base_units(price, token, usd)
    if not 0 < units <= MAX_U64:
        raise RequestError(
            f"depthUsd {usd} of {token.symbol} is {units} base units: not a token amount",
            field="depthUsd",
        )
    return units
