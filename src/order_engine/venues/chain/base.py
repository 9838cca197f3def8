"""What every chain venue shares: building a real swap transaction around the program's
swap instruction, sending it, and reading its outcome off the chain.

A swap transaction: a priority fee and a compute-unit limit (sized from a simulation of
the same transaction), the output's associated token account created idempotently,
native SOL wrapped into a temporary wSOL account before the swap (or unwrapped after it)
and that account closed, and the swap with its minimum out. It is signed by the wallet;
its bytes and last valid block height go to the engine before it is sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.chain.memo import order_memo
from order_engine.chain.port import Chain, Commitment, TransactionDetails
from order_engine.domain.errors import (
    ChainUnavailableError,
    InsufficientFundsError,
    SlippageExceededError,
    TransactionExpiredError,
    TransactionRejectedError,
)
from order_engine.domain.legs import Receipt, SignedTx
from order_engine.domain.orders import Execution
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import Token
from order_engine.venues.base import SwapTransaction, TxState, TxStatus
from order_engine.venues.chain.curve import ChainCurve, from_units, to_units
from order_engine.venues.chain.describe import describe_failure, swap_steps

log = logging.getLogger(__name__)
MAX_CU = 1_400_000
REBROADCAST_SLOTS = 2  # a transaction not seen for this many slots is sent again
EXECUTED_PRICE_PLACES = 12


@dataclass(frozen=True, slots=True)
class ChainVenueSettings:
    priority_fee_micro_lamports: int = 1_000  # per compute unit
    quote_ttl_s: float = 10.0
    poll_s: float = 0.05  # how often a confirmation asks the chain
    confirm_timeout_s: float = 90.0  # without a block height to wait for


class ChainVenue(ABC):
    """A `Venue` on one program. Subclasses read its pools and encode its swap."""

    slippage_error: int  # the program's custom error for a minimum out not met
    program_id: Pubkey

    def __init__(
        self,
        name: str,
        chain: Chain,
        wallet: Keypair,
        tokens_by_mint: Callable[[str], Token | None],
        settings: ChainVenueSettings | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._name, self.chain, self._wallet = name, chain, wallet
        self.wallet_key = wallet.pubkey()
        self._tokens_by_mint = tokens_by_mint
        self.settings = settings or ChainVenueSettings()
        self._now = now

    @property
    def name(self) -> str:
        return self._name

    def expires_at_ms(self) -> int:
        return round((self._now() + self.settings.quote_ttl_s) * 1000)

    @abstractmethod
    async def curve(self, token_in: Token, token_out: Token) -> ChainCurve: ...

    @abstractmethod
    async def swap_instruction(
        self, quote: Quote, token_in: Token, token_out: Token, accounts: tuple[Pubkey, Pubkey],
        amount_in: int, min_out: int,
    ) -> Instruction:  # fmt: skip
        """The program's swap from `accounts` (the wallet's input, output token account)."""

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote:
        return (await self.curve(token_in, token_out)).quote(amount_in)

    async def build(
        self,
        quote: Quote,
        *,
        token_in: Token,
        token_out: Token,
        min_amount_out: Decimal,
        order_id: str,
    ) -> SwapTransaction:
        if quote.venue != self.name:
            raise ValueError(f"{self.name} cannot build a swap quoted by {quote.venue}")
        amount, floor = to_units(quote.amount_in, token_in), to_units(min_amount_out, token_out)
        accounts, before, after = self._wrapping(token_in, token_out, amount)
        swap = await self.swap_instruction(quote, token_in, token_out, accounts, amount, floor)
        body = [*before, swap, *after, order_memo(order_id)]
        latest = await self.chain.latest_blockhash()
        draft = self._sign(body, MAX_CU, latest.blockhash)
        simulation = await self.chain.simulate(bytes(draft))
        if simulation.err is not None:
            await self._refuse(simulation.err, simulation.custom_error, token_in, quote.amount_in)
        limit = simulation.compute_units + max(simulation.compute_units // 10, 5_000)
        tx = self._sign(body, min(limit, MAX_CU), latest.blockhash)
        wire = base64.b64encode(bytes(tx)).decode()
        steps = swap_steps(quote, token_in, token_out, self.name, min_amount_out, limit)
        signed = SignedTx(wire, latest.last_valid_block_height, self.chain_id)
        return SwapTransaction(
            str(tx.signatures[0]), self.name, order_id, quote, min_amount_out, steps, signed
        )

    def _wrapping(
        self, token_in: Token, token_out: Token, amount: int
    ) -> tuple[tuple[Pubkey, Pubkey], list[Instruction], list[Instruction]]:
        me = self.wallet_key
        in_mint, out_mint = (
            Pubkey.from_string(token_in.swap_mint),
            Pubkey.from_string(token_out.swap_mint),
        )
        in_account = get_associated_token_address(me, in_mint)
        out_account, create_out = spl.create_ata_idempotent(me, me, out_mint)
        before: list[Instruction] = [create_out]
        after: list[Instruction] = []
        if token_in.native:
            _, create_in = spl.create_ata_idempotent(me, me, in_mint)
            transfer = spl.transfer_lamports(me, in_account, amount)
            before = [create_in, transfer, spl.sync_native(in_account), create_out]
            after = [spl.close_account(in_account, me, me)]
        elif token_out.native:
            after = [spl.close_account(out_account, me, me)]
        return (in_account, out_account), before, after

    def _sign(self, body: list[Instruction], cu_limit: int, blockhash: Hash) -> Transaction:
        budget = [
            set_compute_unit_limit(cu_limit),
            set_compute_unit_price(self.settings.priority_fee_micro_lamports),
        ]
        message = Message.new_with_blockhash([*budget, *body], self.wallet_key, blockhash)
        return Transaction([self._wallet], message, blockhash)

    async def _refuse(self, err: str, custom: int | None, token_in: Token, amount: Decimal) -> None:
        """Raise the error a failed simulation means (nothing was sent)."""
        if custom == self.slippage_error:
            raise SlippageExceededError(f"{self.name}: the pool moved below the minimum out")
        failure = describe_failure(err, custom)
        if failure == "insufficient_funds":
            held = await self.holding(token_in)
            raise InsufficientFundsError(
                f"the wallet holds {held} {token_in.symbol}; the swap needs {amount} "
                f"{token_in.symbol} and a transaction fee"
            )
        raise TransactionRejectedError(f"{self.name}: the swap would fail ({err})")

    async def holding(self, token: Token) -> Decimal:
        """The wallet's balance of `token` (native SOL: its lamports)."""
        if token.native:
            return from_units(await self.chain.balance(self.wallet_key), token)
        ata = get_associated_token_address(self.wallet_key, Pubkey.from_string(token.mint))
        (found,) = await self.chain.accounts([ata])
        return from_units(spl.token_amount(found.data) if found else 0, token)

    async def submit(self, tx: SwapTransaction) -> None:
        if tx.signed is None:
            raise ValueError(f"{self.name} sends only signed chain transactions")
        await self.chain.send(base64.b64decode(tx.signed.wire))

    @property
    def chain_id(self) -> str:
        """The genesis hash of the chain this venue trades on."""
        return self.chain.genesis_hash

    def signed_here(self, signed: SignedTx) -> bool:
        return not signed.chain or signed.chain == self.chain_id

    async def resend(self, signed: SignedTx) -> bool:
        if await self.chain.block_height() > signed.last_valid_block_height:
            return False
        try:
            await self.chain.send(base64.b64decode(signed.wire))
        except TransactionRejectedError:
            return False  # its blockhash is gone: it can never land
        return True

    async def status(self, signature: str) -> TxStatus:
        (found,) = await self.chain.signature_statuses([signature])
        if found is None:
            return TxStatus(TxState.UNKNOWN)
        if found.commitment is Commitment.PROCESSED:
            return TxStatus(TxState.PENDING)
        if found.err is not None:
            reason = describe_failure(found.err, found.custom_error, self.slippage_error)
            return TxStatus(TxState.REVERTED, reason=reason)
        return TxStatus(TxState.LANDED, await self._execution(signature))

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
        """Poll until it lands, reverts or expires; meanwhile send the same bytes again
        every `REBROADCAST_SLOTS` slots (a dropped transaction then still lands, once). A
        chain that does not answer for a while is asked again until the deadline."""
        deadline = time.monotonic() + self.settings.confirm_timeout_s
        sent_at: int | None = None
        while True:
            try:
                status = await self.status(signature)
                if status.state is TxState.LANDED and status.execution is not None:
                    return status.execution
                if status.state is TxState.REVERTED:
                    await self._reverted(signature)
                if status.state is TxState.UNKNOWN:
                    sent_at = await self._unseen(signature, signed, sent_at, deadline)
            except ChainUnavailableError:
                if time.monotonic() > deadline:
                    raise
                log.debug("chain did not answer about %s; asking again", signature)
            await asyncio.sleep(self.settings.poll_s)

    async def _unseen(
        self, signature: str, signed: SignedTx | None, sent_at: int | None, deadline: float
    ) -> int | None:
        """Not on chain yet: expired (raise), rebroadcast, or wait; the height last sent."""
        if signed is None:
            if time.monotonic() > deadline:
                raise ChainUnavailableError(f"{self.name}: transaction {signature} not seen yet")
            return sent_at
        height = await self.chain.block_height()
        if height > signed.last_valid_block_height:
            raise TransactionExpiredError(
                f"{self.name}: transaction {signature} expired (block height {height} past "
                f"{signed.last_valid_block_height}) without landing"
            )
        if sent_at is None:
            return height  # the first look: it was just sent
        if height - sent_at >= REBROADCAST_SLOTS:
            await self.resend(signed)
            return height
        return sent_at

    async def _reverted(self, signature: str) -> None:
        details = await self.chain.transaction(signature)
        err = details.err if details and details.err else "unknown error"
        custom = details.custom_error if details else None
        if custom == self.slippage_error:
            raise SlippageExceededError(
                f"{self.name}: output fell below the minimum; the swap reverted ({signature})"
            )
        if describe_failure(err, custom) == "insufficient_funds":
            raise InsufficientFundsError(f"{self.name}: the wallet could not pay ({err})")
        raise TransactionRejectedError(f"{self.name}: the swap failed on chain ({err})")

    async def _execution(self, signature: str) -> Execution:
        details = await self.chain.transaction(signature)
        if details is None:
            raise ChainUnavailableError(f"{self.name}: no details for {signature} yet")
        return self.execution_of(details)

    def execution_of(self, details: TransactionDetails) -> Execution:
        """What the swap delivered, from the pool's side of the balance changes: its input
        vault grew by what was paid, its output vault shrank by what was received."""
        pool_side = [
            c for c in details.token_balances if c.owner != self.wallet_key and c.delta != 0
        ]
        paid = next((c for c in pool_side if c.delta > 0), None)
        received = next((c for c in pool_side if c.delta < 0), None)
        if paid is None or received is None:
            raise TransactionRejectedError(f"{details.signature} moved no pool balance")
        token_in = self._tokens_by_mint(str(paid.mint))
        token_out = self._tokens_by_mint(str(received.mint))
        if token_in is None or token_out is None:
            raise TransactionRejectedError(f"{details.signature} traded an unknown mint")
        amount_in = from_units(paid.delta, token_in)
        amount_out = from_units(-received.delta, token_out)
        price = quantize(amount_out / amount_in, EXECUTED_PRICE_PLACES)
        receipt = Receipt(details.slot, details.fee, details.compute_units)
        return Execution(self.name, details.signature, price, amount_out, receipt)
