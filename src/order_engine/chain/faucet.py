"""Funding wallets on the local chain (`Faucet`): SOL by airdrop, any other token by minting
it to the wallet's associated token account in a real, signed transaction.

Minting needs the mint's authority: the local chain's genesis authority (derived from the
seed: the built-in tokens, and the tokens launched on the in-process chain) or the engine's
wallet (tokens launched over JSON-RPC, `RpcLaunches`). A mint whose authority is none of
the keys given here cannot be funded (`FundingUnavailableError`): e.g. a `localnet` started
with another `RNG_SEED`, or a cluster the engine did not create.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_DOWN, Decimal

from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.chain.inprocess import InProcessChain
from order_engine.chain.port import Chain, Commitment
from order_engine.domain.errors import (
    ChainUnavailableError,
    FundingUnavailableError,
    RequestError,
    TransactionRejectedError,
)
from order_engine.domain.tokens import WSOL_MINT, Token

RESEND_EVERY_S = 1.0
Airdrop = Callable[[Pubkey, int], Awaitable[str | None]]
"""Credit lamports to a wallet; the airdrop's signature to wait for (None: credited now)."""


def in_process_airdrop(chain: InProcessChain) -> Airdrop:
    """The in-process chain's airdrop: the lamports are credited at once (journaled)."""

    async def airdrop(to: Pubkey, lamports: int) -> None:
        chain.airdrop(to, lamports)

    return airdrop


class ChainFaucet:
    """A `Faucet` on `chain`: `airdrop` credits SOL; `authorities` sign the mints they
    may mint (and pay for the transaction)."""

    def __init__(
        self,
        chain: Chain,
        airdrop: Airdrop,
        authorities: Sequence[Keypair],
        *,
        poll_s: float = 0.05,
        timeout_s: float = 30.0,
    ) -> None:
        self._chain, self._airdrop = chain, airdrop
        self._authorities = {k.pubkey(): k for k in authorities}
        self._poll_s, self._timeout_s = poll_s, timeout_s

    async def fund(self, wallet: str, token: Token, amount: Decimal) -> None:
        owner = Pubkey.from_string(wallet)
        units = int(amount.scaleb(token.decimals).to_integral_value(rounding=ROUND_DOWN))
        if units <= 0:
            raise RequestError(f"amount is less than one unit of {token.symbol}", field="amount")
        if token.native:
            signature = await self._airdrop(owner, units)
            if signature is not None:
                await self._confirm(signature, None)
            return
        if token.mint == WSOL_MINT:
            raise RequestError(
                "WSOL is wrapped SOL: fund SOL (a swap wraps what it needs)", field="token"
            )
        await self._mint(owner, token, units)

    async def _mint(self, owner: Pubkey, token: Token, units: int) -> None:
        mint = Pubkey.from_string(token.mint)
        (found,) = await self._chain.accounts([mint])
        if found is None or found.owner != spl.TOKEN_PROGRAM:
            raise FundingUnavailableError(f"{token.symbol}'s mint {mint} is not on this chain")
        authority = spl.mint_authority(found.data)
        signer = self._authorities.get(authority) if authority is not None else None
        if signer is None:
            raise FundingUnavailableError(
                f"cannot mint {token.symbol} here: its mint authority ({authority or 'none'}) "
                "is not a key of this engine (the local chain's genesis authority or the "
                "engine's wallet)"
            )
        payer = signer.pubkey()
        ata, create = spl.create_ata_idempotent(payer, owner, mint)
        latest = await self._chain.latest_blockhash()
        body = [create, spl.mint_to(mint, ata, payer, units)]
        message = Message.new_with_blockhash(body, payer, latest.blockhash)
        wire = bytes(Transaction([signer], message, latest.blockhash))
        signature = await self._chain.send(wire)
        await self._confirm(signature, (wire, latest.last_valid_block_height))

    async def _confirm(self, signature: str, sent: tuple[bytes, int] | None) -> None:
        """Until confirmed; `TransactionRejectedError` if it failed, `ChainUnavailableError`
        if it expired unseen or took too long. The signed bytes (`sent`: with their last
        valid block height) go again every second while the transaction is not seen."""
        started = last_sent = time.monotonic()
        while True:
            (status,) = await self._chain.signature_statuses([signature])
            if status is not None and status.err is not None:
                raise TransactionRejectedError(f"funding {signature} failed ({status.err})")
            if status is not None and status.commitment is not Commitment.PROCESSED:
                return
            now = time.monotonic()
            if status is None and sent is not None:
                if await self._chain.block_height() > sent[1]:
                    raise ChainUnavailableError(f"funding {signature} expired unseen")
                if now - last_sent >= RESEND_EVERY_S:
                    last_sent = now
                    await self._chain.send(sent[0])
            if now - started > self._timeout_s:
                raise ChainUnavailableError(f"funding {signature} not confirmed in time")
            await asyncio.sleep(self._poll_s)
