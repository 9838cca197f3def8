"""What every chain venue shares: building a real swap transaction around the program's
swap instruction, sending it, and reading its outcome off the chain.

A swap transaction: a priority fee and a compute-unit limit (sized from a simulation of
the same transaction), the output's associated token account created idempotently,
native SOL wrapped into a temporary wSOL account before the swap (or unwrapped after it)
and that account closed, and the swap with its minimum out. It is signed by the wallet;
its bytes and last valid block height go to the engine before it is sent.
"""

from __future__ import annotations

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
from order_engine.chain.port import Chain
from order_engine.domain.errors import (
    InsufficientFundsError,
    SlippageExceededError,
    TransactionRejectedError,
)
from order_engine.domain.legs import SignedTx
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token
from order_engine.venues.base import SwapTransaction
from order_engine.venues.chain.book import ListedPools, PoolBook
from order_engine.venues.chain.budget import ComputeBudgets, budget_key, limit_for
from order_engine.venues.chain.curve import ChainCurve, from_units, to_units
from order_engine.venues.chain.describe import INSUFFICIENT_FUNDS, describe_failure, swap_steps
from order_engine.venues.chain.outcomes import ChainOutcomes

log = logging.getLogger(__name__)
MAX_CU = 1_400_000
SOL_RESERVE = Decimal("0.01")  # fees and temporary accounts' rent a native swap needs


@dataclass(frozen=True, slots=True)
class ChainVenueSettings:
    priority_fee_micro_lamports: int = 1_000  # per compute unit
    quote_ttl_s: float = 10.0
    poll_s: float = 0.05  # how often a confirmation asks the chain
    confirm_timeout_s: float = 90.0  # without a block height to wait for


class ChainVenue(ChainOutcomes, ABC):
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
        *,
        pools: PoolBook | None = None,
    ) -> None:
        self._name, self.chain, self._wallet = name, chain, wallet
        self.pools: PoolBook = pools or ListedPools()
        self.wallet_key = wallet.pubkey()
        self._tokens_by_mint = tokens_by_mint
        self.settings = settings or ChainVenueSettings()
        self._now = now
        self.budgets = ComputeBudgets()
        self._existing: set[Pubkey] = set()

    @property
    def name(self) -> str:
        return self._name

    @property
    def confirm_timeout_s(self) -> float:
        return self.settings.confirm_timeout_s

    @property
    def poll_s(self) -> float:
        return self.settings.poll_s

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
        accounts, before, after, creates = await self._wrapping(token_in, token_out, amount)
        swap = await self.swap_instruction(quote, token_in, token_out, accounts, amount, floor)
        body = [*before, swap, *after, order_memo(order_id)]
        latest = await self.chain.latest_blockhash()
        key = budget_key(self.name, token_in, token_out, creates)
        units = self.budgets.cached(key, quote)
        if units is None:
            units = await self._simulate(body, latest.blockhash, token_in, quote.amount_in)
            self.budgets.record(key, units, quote)
        else:
            await self._check_funds(token_in, quote.amount_in)
        limit = min(limit_for(units), MAX_CU)
        tx = self._sign(body, limit, latest.blockhash)
        wire = base64.b64encode(bytes(tx)).decode()
        steps = swap_steps(quote, token_in, token_out, self.name, min_amount_out, limit, creates)
        signed = SignedTx(wire, latest.last_valid_block_height, self.chain_id)
        return SwapTransaction(
            str(tx.signatures[0]), self.name, order_id, quote, min_amount_out, steps, signed
        )

    async def _wrapping(
        self, token_in: Token, token_out: Token, amount: int
    ) -> tuple[tuple[Pubkey, Pubkey], list[Instruction], list[Instruction], bool]:
        """The wallet's input and output token accounts, the instructions around the
        swap: wrap native SOL into a temporary wSOL account (closed after), and create the
        output account unless it is known to exist (idempotently, as it may race), and
        whether the output account is created."""
        me = self.wallet_key
        in_mint = Pubkey.from_string(token_in.swap_mint)
        in_account = get_associated_token_address(me, in_mint)
        out_account, create_out = spl.create_ata_idempotent(
            me, me, Pubkey.from_string(token_out.swap_mint)
        )
        exists = not token_out.native and await self._account_exists(out_account)
        before: list[Instruction] = [] if exists else [create_out]
        after: list[Instruction] = []
        if token_in.native:
            _, create_in = spl.create_ata_idempotent(me, me, in_mint)
            transfer = spl.transfer_lamports(me, in_account, amount)
            before = [create_in, transfer, spl.sync_native(in_account), *before]
            after = [spl.close_account(in_account, me, me)]
        elif token_out.native:
            after = [spl.close_account(out_account, me, me)]
        return (in_account, out_account), before, after, not exists

    async def _account_exists(self, account: Pubkey) -> bool:
        """Whether the wallet's token account exists (remembered once seen: the engine
        never closes its token accounts, only its temporary wSOL one)."""
        if account in self._existing:
            return True
        (found,) = await self.chain.accounts([account])
        if found is not None:
            self._existing.add(account)
        return found is not None

    async def _simulate(
        self, body: list[Instruction], blockhash: Hash, token_in: Token, amount: Decimal
    ) -> int:
        """The compute units the transaction uses; raises what a failure means."""
        simulation = await self.chain.simulate(bytes(self._sign(body, MAX_CU, blockhash)))
        if simulation.err is not None:
            await self._refuse(simulation.err, simulation.custom_error, token_in, amount)
        return simulation.compute_units

    async def _check_funds(self, token_in: Token, amount: Decimal) -> None:
        """Without a simulation: does the wallet hold the input (native SOL: and the fee
        and the temporary accounts' rent)?"""
        held = await self.holding(token_in)
        needed = amount + (SOL_RESERVE if token_in.native else 0)
        if held < needed:
            raise InsufficientFundsError(
                f"the wallet holds {held} {token_in.symbol}; the swap needs {amount} "
                f"{token_in.symbol} and a transaction fee"
            )

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
        if failure == INSUFFICIENT_FUNDS:
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
