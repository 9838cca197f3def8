"""Reading a chain venue's transactions back: their status, waiting for them to land
(sending the same bytes again meanwhile), why one failed, and what one delivered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from solders.pubkey import Pubkey

from order_engine.chain.port import Chain, Commitment, SignatureStatus, TransactionDetails
from order_engine.domain.errors import (
    ChainUnavailableError,
    InsufficientFundsError,
    SlippageExceededError,
    TransactionExpiredError,
    TransactionRejectedError,
    TransientExecutionError,
    VenueUnavailableError,
)
from order_engine.domain.legs import Receipt, SignedTx
from order_engine.domain.orders import Execution
from order_engine.domain.quotes import quantize
from order_engine.domain.tokens import Token
from order_engine.venues.base import TxState, TxStatus
from order_engine.venues.chain.budget import ComputeBudgets
from order_engine.venues.chain.curve import from_units
from order_engine.venues.chain.describe import INSUFFICIENT_FUNDS, describe_failure
from order_engine.venues.chain.inflight import InFlightSwaps

log = logging.getLogger(__name__)
REBROADCAST_SLOTS = 2  # a transaction not seen for this many slots is sent again
EXECUTED_PRICE_PLACES = 12


class LookWithSend:
    """Whether to ask about a transaction in the round trip that sends it: that answer
    spares the confirmation a round trip on a chain that lands transactions as they come
    (a local one), and is two wasted calls on one with real slots (it has not landed yet).
    On at first; off after `misses_off` sends in a row whose look found nothing; while
    off, every `probe_every`-th send looks again (and one found turns it back on)."""

    def __init__(self, misses_off: int = 8, probe_every: int = 64) -> None:
        self._misses_off, self._probe_every = misses_off, probe_every
        self._misses = self._sends = 0

    def now(self) -> bool:
        if self._misses < self._misses_off:
            return True
        self._sends += 1
        return self._sends % self._probe_every == 0

    def found(self, found: bool) -> None:
        self._misses = 0 if found else self._misses + 1


class ChainOutcomes:
    """The outcome side of `ChainVenue` (a mixin: the venue provides the attributes)."""

    chain: Chain
    wallet_key: Pubkey
    budgets: ComputeBudgets
    in_flight: InFlightSwaps
    _first_looks: dict[str, tuple[TxStatus, TransactionDetails | None]]  # by signature
    _looks_with_send: LookWithSend
    slippage_error: int
    closed_error: int | None
    drained_errors: frozenset[int]
    program_id: Pubkey
    _tokens_by_mint: Callable[[str], Token | None]

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def confirm_timeout_s(self) -> float:
        raise NotImplementedError

    @property
    def poll_s(self) -> float:
        raise NotImplementedError

    async def resend(self, signed: SignedTx) -> bool:
        raise NotImplementedError

    async def status(self, signature: str) -> TxStatus:
        return (await self._look(signature, with_details=False))[0]

    async def _look(
        self, signature: str, *, with_details: bool
    ) -> tuple[TxStatus, TransactionDetails | None]:
        """The transaction's status, and its details once it is final. `with_details`: read
        both at once, one round trip (a batching chain sends calls made together as one
        request), so one that landed as it was sent (a local chain) needs no second read;
        otherwise the details are read only when it has landed or reverted."""
        if with_details:
            (found,), details = await asyncio.gather(
                self.chain.signature_statuses([signature]), self.chain.transaction(signature)
            )
        else:
            (found,), details = await self.chain.signature_statuses([signature]), None
        return await self._judge(signature, found, details)

    async def _judge(
        self, signature: str, found: SignatureStatus | None, details: TransactionDetails | None
    ) -> tuple[TxStatus, TransactionDetails | None]:
        if found is None:
            return TxStatus(TxState.UNKNOWN), None
        if found.commitment is Commitment.PROCESSED:
            return TxStatus(TxState.PENDING), None
        if found.err is not None:
            reason = describe_failure(found.err, found.custom_error, self.slippage_error)
            return TxStatus(TxState.REVERTED, reason=reason), details
        details = details or await self._details(signature)
        return TxStatus(TxState.LANDED, self.execution_of(details)), details

    async def send_and_look(self, signature: str, wire: bytes) -> None:
        """Send `wire` and ask about it in the same round trip (calls made together leave as
        one batch, in order): on a chain that lands a transaction as it comes (a local one)
        `confirm` then starts from that answer instead of asking again. Raises what the
        send raised; a look that failed or found nothing yet is only made again later.
        Only while such looks find what they ask about (`LookWithSend`)."""
        if not self._looks_with_send.now():
            await self.chain.send(wire)
            return
        sent, found, details = await asyncio.gather(
            self.chain.send(wire),
            self.chain.signature_statuses([signature]),
            self.chain.transaction(signature),
            return_exceptions=True,
        )
        if isinstance(sent, BaseException):
            raise sent
        if isinstance(found, BaseException) or isinstance(details, BaseException):
            return
        self._looks_with_send.found(found[0] is not None)
        if found[0] is None:  # unknown yet: the first look of `confirm` asks again
            return
        try:
            self._first_looks[signature] = await self._judge(signature, found[0], details)
        except ChainUnavailableError:  # its details did not come: `confirm` asks again
            log.debug("no details yet for %s, sent", signature)

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
        """Poll until it lands, reverts or expires; meanwhile send the same bytes again
        every `REBROADCAST_SLOTS` slots (a dropped transaction then still lands, once). A
        chain that does not answer for a while is asked again until the deadline. However
        it ends, the swap is no longer in flight."""
        try:
            return await self._confirm(signature, signed)
        finally:
            self.in_flight.done(signature)

    async def _confirm(self, signature: str, signed: SignedTx | None) -> Execution:
        deadline = time.monotonic() + self.confirm_timeout_s
        sent_at: int | None = None
        looked = self._first_looks.pop(signature, None)  # as it was sent (`send_and_look`)
        first = True  # just sent: it may have landed already (a local chain)
        while True:
            try:
                status, details = looked or await self._look(signature, with_details=first)
                looked, first = None, False
                if status.state is TxState.LANDED and status.execution is not None:
                    self.in_flight.landed(signature)
                    return status.execution
                if status.state is TxState.REVERTED:
                    await self._reverted(signature, details)
                if status.state is TxState.UNKNOWN:
                    sent_at = await self._unseen(signature, signed, sent_at, deadline)
            except ChainUnavailableError:
                if time.monotonic() > deadline:
                    raise
                log.debug("chain did not answer about %s; asking again", signature)
            await asyncio.sleep(self.poll_s)

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

    async def _reverted(self, signature: str, details: TransactionDetails | None) -> None:
        details = details or await self.chain.transaction(signature)
        err = details.err if details and details.err else "unknown error"
        custom = details.custom_error if details else None
        slipped = f"output fell below the minimum; the swap reverted ({signature})"
        moved = self.moved(err, custom, slipped)
        if moved is not None:
            raise moved
        if describe_failure(err, custom) == INSUFFICIENT_FUNDS:
            raise InsufficientFundsError(f"{self.name}: the wallet could not pay ({err})")
        if "ComputationalBudgetExceeded" in err or "exceeded CUs" in " ".join(
            details.logs if details else ()
        ):
            self.budgets.clear()  # learn the compute units again, by simulation
            raise VenueUnavailableError(f"{self.name}: the swap ran out of compute units")
        raise TransactionRejectedError(f"{self.name}: the swap failed on chain ({err})")

    def moved(self, err: str, custom: int | None, slipped: str) -> TransientExecutionError | None:
        """The transient error the program's `custom` error means, if the pool moved under
        the swap (`slipped`: how a missed minimum out reads), ran dry under it (the swaps
        ahead of it took the liquidity it was quoted on: a moved market too; a fresh quote
        then sees it) or takes no swaps now; None for any other failure."""
        if custom is None:
            return None
        if custom == self.slippage_error:
            return SlippageExceededError(f"{self.name}: {slipped}")
        if custom in self.drained_errors:
            return SlippageExceededError(
                f"{self.name}: the pool ran out of liquidity before the swap was filled "
                f"(the swaps ahead of it took what it was quoted on; {err})"
            )
        if custom == self.closed_error:
            return self.closed(err)
        return None

    def closed(self, err: str) -> VenueUnavailableError:
        """The pool takes no swaps now (not open yet, or its swaps disabled): transient,
        the order is tried again after a backoff."""
        return VenueUnavailableError(f"{self.name}: the pool takes no swaps now ({err})")

    async def _details(self, signature: str) -> TransactionDetails:
        details = await self.chain.transaction(signature)
        if details is None:
            raise ChainUnavailableError(f"{self.name}: no details for {signature} yet")
        return details

    def execution_of(self, details: TransactionDetails) -> Execution:
        """What the swap delivered, from the pool's side of the balance changes (not the
        wallet that paid for it): its input vault grew by what was paid, its output vault
        shrank by what was received."""
        payer = details.fee_payer or self.wallet_key
        pool_side = [c for c in details.token_balances if c.owner != payer and c.delta != 0]
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


def landed_executions(
    venues: Sequence[ChainOutcomes], found: Iterable[TransactionDetails | None]
) -> list[Execution]:
    """What each landed transaction in `found` delivered, read by the venue whose program
    it invoked (the accounting of an order's swaps from the chain's own history)."""
    out: list[Execution] = []
    for details in found:
        if details is None or details.err is not None:
            continue
        for venue in venues:
            invoke = f"Program {venue.program_id} invoke"
            if any(line.startswith(invoke) for line in details.logs):
                out.append(venue.execution_of(details))
                break
    return out
