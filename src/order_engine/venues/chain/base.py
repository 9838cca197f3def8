"""What every chain venue shares: building a real swap transaction around the program's
swap instruction, sending it, and reading its outcome off the chain.

A swap transaction: a priority fee and a compute-unit limit (sized from a simulation of
the same transaction), the output's associated token account created idempotently,
native SOL wrapped into a temporary wSOL account before the swap (or unwrapped after it)
and that account closed, and the swap with its minimum out. It is signed by the wallet of
the order's account (fee payer and owner of its token accounts), or the engine's wallet
for an order without one (`ChainWallets`); its bytes and last valid block height go to the
engine before it is sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from order_engine.chain.port import Chain, LatestBlockhash
from order_engine.domain.errors import (
    InsufficientFundsError,
    TransactionRejectedError,
)
from order_engine.domain.legs import SignedTx
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token
from order_engine.venues.base import SwapTransaction
from order_engine.venues.chain.book import ListedPools, PoolBook
from order_engine.venues.chain.budget import BudgetKey, ComputeBudgets, budget_key, limit_for
from order_engine.venues.chain.curve import ChainCurve, to_units
from order_engine.venues.chain.describe import INSUFFICIENT_FUNDS, describe_failure, swap_steps
from order_engine.venues.chain.inflight import InFlightSwaps
from order_engine.venues.chain.inflight_board import InFlightBoard, LocalInFlightBoard, board_key
from order_engine.venues.chain.outcomes import ChainOutcomes, LookWithSend
from order_engine.venues.chain.wallets import ChainWallets

log = logging.getLogger(__name__)
MAX_CU = 1_400_000


@dataclass(frozen=True, slots=True)
class ChainVenueSettings:
    priority_fee_micro_lamports: int = 1_000  # per compute unit
    quote_ttl_s: float = 10.0
    poll_s: float = 0.05  # how often a confirmation asks the chain
    confirm_timeout_s: float = 90.0  # without a block height to wait for


class ChainVenue(ChainOutcomes, ABC):
    """A `Venue` on one program. Subclasses read its pools and encode its swap."""

    slippage_error: int  # the program's custom error for a minimum out not met
    closed_error: int | None = None  # its error for a pool that takes no swaps now
    drained_errors: frozenset[int] = frozenset()  # its errors for a pool run dry under a swap
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
        wallets: ChainWallets | None = None,
        board: InFlightBoard | None = None,
    ) -> None:
        """`wallet`: the engine's; `wallets`: the accounts' too (shared by the venues of
        one chain; None: every swap is the engine wallet's); `board`: the swaps in flight
        of the other processes on this chain (None: this process is the only one)."""
        self._name, self.chain = name, chain
        self.wallets = wallets or ChainWallets(chain, wallet)
        self.pools: PoolBook = pools or ListedPools()
        self.wallet_key = wallet.pubkey()
        self._tokens_by_mint = tokens_by_mint
        self.settings = settings or ChainVenueSettings()
        self._now = now
        self.budgets = ComputeBudgets()
        self.board: InFlightBoard = board or LocalInFlightBoard()
        self.in_flight = InFlightSwaps(
            sent_ttl_s=self.settings.confirm_timeout_s + 30, on_change=self._share
        )
        self._existing: set[Pubkey] = set()
        self._first_looks, self._looks_with_send = {}, LookWithSend()

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

    async def curve(self, token_in: Token, token_out: Token) -> ChainCurve:
        """The pool as read, priced behind this process's swaps in flight on it as they
        are when each quote is made (`expect` counts a route's swap once chosen) and those
        that landed after the read was answered, and behind the other processes' as their
        board showed them with the read."""
        others_read = self.board.fresh()
        read = await self.read_curve(token_in, token_out)
        since = self.in_flight.mark()
        await others_read
        direction, in_flight = (token_in.symbol, token_out.symbol), self.in_flight
        elsewhere = self.board.others(board_key(self.name, direction))

        def ahead_now() -> int:
            return to_units(in_flight.ahead(direction, since=since) + elsewhere, token_in)

        return replace(read, ahead_now=ahead_now)

    def _share(self) -> None:
        """Publish this process's swaps in flight on this venue (they changed)."""
        self.board.publish(self.name, self.in_flight.totals())

    def expect(self, quote: Quote, order_id: str) -> None:
        """The engine chose `quote` for `order_id`: quotes made from now on price behind
        it, until the swap built from it ends (or `release`)."""
        self.in_flight.chosen(order_id, (quote.token_in, quote.token_out), quote.amount_in)

    def release(self, order_id: str) -> None:
        """The order's attempt stopped: its chosen swaps not signed yet no longer count."""
        self.in_flight.release(order_id)

    @abstractmethod
    async def read_curve(self, token_in: Token, token_out: Token) -> ChainCurve:
        """The pool for `token_in → token_out` as the chain holds it now."""

    @abstractmethod
    async def swap_instruction(
        self, quote: Quote, token_in: Token, token_out: Token, accounts: tuple[Pubkey, Pubkey],
        amount_in: int, min_out: int, owner: Pubkey,
    ) -> Instruction:  # fmt: skip
        """The program's swap from `accounts` (`owner`'s input and output token accounts)."""

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
        owner: str | None = None,
    ) -> SwapTransaction:
        """The swap signed by `owner`'s wallet (an account id; None: the engine's)."""
        if quote.venue != self.name:
            raise ValueError(f"{self.name} cannot build a swap quoted by {quote.venue}")
        signer = await self.wallets.signer(owner)
        me = self.wallets.keys.of(signer)
        amount, floor = to_units(quote.amount_in, token_in), to_units(min_amount_out, token_out)
        accounts, before, after, creates = await self._wrapping(me, token_in, token_out, amount)
        swap = await self.swap_instruction(quote, token_in, token_out, accounts, amount, floor, me)
        body = [*before, swap, *after, order_memo(order_id)]
        key = budget_key(self.name, token_in, token_out, creates)
        latest, units = await self._blockhash_and_units(signer, body, key, quote, owner, token_in)
        direction = (token_in.symbol, token_out.symbol)
        elsewhere = self.board.others(board_key(self.name, direction))
        behind = self.in_flight.ahead(direction, besides=order_id) + elsewhere > 0
        limit = min(limit_for(units, behind=behind), MAX_CU)
        tx = self._sign(signer, body, limit, latest.blockhash)
        self.in_flight.signed(str(tx.signatures[0]), order_id, direction, quote.amount_in)
        wire = base64.b64encode(bytes(tx)).decode()
        steps = swap_steps(quote, token_in, token_out, self.name, min_amount_out, limit, creates)
        signed = SignedTx(wire, latest.last_valid_block_height, self.chain_id)
        return SwapTransaction(
            str(tx.signatures[0]), self.name, order_id, quote, min_amount_out, steps, signed
        )

    async def _blockhash_and_units(
        self, signer: Keypair, body: list[Instruction], key: BudgetKey, quote: Quote,
        owner: str | None, token_in: Token,
    ) -> tuple[LatestBlockhash, int]:  # fmt: skip
        """The blockhash to sign with and the compute units the swap uses: learnt for its
        shape (then the wallet's funds are checked, in the same round trip as the
        blockhash: a batching chain sends them together), or simulated (which checks)."""
        units = self.budgets.cached(key, quote)
        if units is not None:
            latest, _ = await asyncio.gather(
                self.chain.latest_blockhash(), self.wallets.check(owner, token_in, quote.amount_in)
            )
            return latest, units
        latest = await self.chain.latest_blockhash()  # the simulation signs with it
        simulated = self._sign(signer, body, MAX_CU, latest.blockhash)
        units = await self._simulate(simulated, owner, token_in, quote.amount_in)
        self.budgets.record(key, units, quote)
        return latest, units

    async def _wrapping(
        self, me: Pubkey, token_in: Token, token_out: Token, amount: int
    ) -> tuple[tuple[Pubkey, Pubkey], list[Instruction], list[Instruction], bool]:
        """The wallet `me`'s input and output token accounts, the instructions around the
        swap: wrap native SOL into a temporary wSOL account (closed after), and create the
        output account unless it is known to exist (idempotently, as it may race), and
        whether the output account is created."""
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
        """Whether a wallet's token account exists (remembered once seen: the engine
        never closes its token accounts, only its temporary wSOL one)."""
        if account in self._existing:
            return True
        (found,) = await self.chain.accounts([account])
        if found is not None:
            self._existing.add(account)
        return found is not None

    async def _simulate(
        self, tx: Transaction, owner: str | None, token_in: Token, amount: Decimal
    ) -> int:
        """The compute units the transaction uses; raises what a failure means."""
        simulation = await self.chain.simulate(bytes(tx))
        if simulation.err is not None:
            await self._refuse(simulation.err, simulation.custom_error, owner, token_in, amount)
        return simulation.compute_units

    def _sign(
        self, signer: Keypair, body: list[Instruction], cu_limit: int, blockhash: Hash
    ) -> Transaction:
        budget = [
            set_compute_unit_limit(cu_limit),
            set_compute_unit_price(self.settings.priority_fee_micro_lamports),
        ]
        payer = self.wallets.keys.of(signer)
        message = Message.new_with_blockhash([*budget, *body], payer, blockhash)
        # the signature over the message's bytes: what `Transaction([signer], ...)` makes,
        # without it deriving the public key again (half the cost)
        return Transaction.populate(message, [signer.sign_message(bytes(message))])

    async def _refuse(
        self, err: str, custom: int | None, owner: str | None, token_in: Token, amount: Decimal
    ) -> None:
        """Raise the error a failed simulation means (nothing was sent)."""
        moved = self.moved(err, custom, "the pool moved below the minimum out")
        if moved is not None:
            raise moved
        if describe_failure(err, custom) == INSUFFICIENT_FUNDS:
            await self.wallets.check(owner, token_in, amount)  # raises, naming the balance
            raise InsufficientFundsError(f"{self.name}: the wallet cannot pay the swap ({err})")
        raise TransactionRejectedError(f"{self.name}: the swap would fail ({err})")

    async def holding(self, token: Token) -> Decimal:
        """The engine wallet's balance of `token` (native SOL: its lamports)."""
        return await self.wallets.holding(self.wallet_key, token)

    async def submit(self, tx: SwapTransaction) -> None:
        if tx.signed is None:
            raise ValueError(f"{self.name} sends only signed chain transactions")
        self.in_flight.sent(tx.signature)
        await self.send_and_look(tx.signature, base64.b64decode(tx.signed.wire))

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
