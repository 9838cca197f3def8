"""The `Venue` protocol: quote, build, submit, confirm and ask the status of a swap."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from order_engine.domain.amounts import money
from order_engine.domain.legs import SignedTx
from order_engine.domain.orders import Execution
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token


@dataclass(frozen=True, slots=True)
class SwapTransaction:
    """A built (signed) swap. The signature is known before it is sent, so the engine
    persists it first and can later ask the venue whether it landed."""

    signature: str
    venue: str
    order_id: str
    quote: Quote
    min_amount_out: Decimal
    steps: tuple[str, ...] = field(default_factory=tuple)
    signed: SignedTx | None = None  # chain venues: the bytes to send and their validity

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "venue": self.venue,
            "minAmountOut": money(self.min_amount_out),
            "steps": list(self.steps),
        }


class TxState(StrEnum):
    UNKNOWN = "unknown"  # never reached the venue: safe to build a new one
    PENDING = "pending"  # sent, not final yet: wait for it
    LANDED = "landed"  # executed: never execute again
    REVERTED = "reverted"  # failed on chain (e.g. slippage): nothing executed


@dataclass(frozen=True, slots=True)
class TxStatus:
    state: TxState
    execution: Execution | None = None
    reason: str | None = None


class PriceCurve(Protocol):
    """A venue's pool for one pair as it stood when fetched: quotes any amount locally
    (as an aggregator reads pool accounts once and computes every split from them)."""

    @property
    def venue(self) -> str: ...

    def quote(self, amount_in: Decimal) -> Quote:
        """The output of swapping `amount_in` now. `NoRouteError` if the pool cannot take
        it (too little liquidity, or less than one unit of output)."""
        ...

    def amount_out(self, amount_in: Decimal) -> Decimal:
        """`quote(amount_in).amount_out` and the same errors, without the rest of the quote
        (the router's split search prices dozens of amounts per order)."""
        ...


class Venue(Protocol):
    """One DEX. Errors: `VenueUnavailableError` (transient), `SlippageExceededError`,
    `NoRouteError` (the venue has no pool for the pair)."""

    @property
    def name(self) -> str: ...

    async def curve(self, token_in: Token, token_out: Token) -> PriceCurve:
        """Fetch the pool's current state (one quote round trip)."""
        ...

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote: ...

    def expect(self, quote: Quote, order_id: str) -> None:
        """The engine chose `quote` for `order_id` and will build it: a venue that prices
        its pools behind its own swaps on their way counts it from now (the chain
        venues; the simulation ignores it)."""
        ...

    def release(self, order_id: str) -> None:
        """The order's attempt stopped: what `expect` counted and was not built is gone."""
        ...

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
        """The swap, signed (chain venues) by the wallet of `owner` (the order's account
        id; None, or an account without a wallet: the engine's wallet). The simulated
        venues have no wallets and ignore it."""
        ...

    async def submit(self, tx: SwapTransaction) -> None: ...

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
        """Wait until the transaction is final; raise `SlippageExceededError` if it reverted
        because the output fell below its minimum, `TransactionExpiredError` if its
        blockhash expired before it landed (then it never will: safe to sign anew). With
        `signed`, a chain venue sends the same bytes again while it waits, as Solana clients
        do (a leader may drop a transaction)."""
        ...

    async def status(self, signature: str) -> TxStatus: ...

    def signed_here(self, signed: SignedTx) -> bool:
        """Whether `signed` was signed for the chain this venue is on (the simulation:
        always). Bytes signed for another chain have an outcome nobody here can know."""
        ...

    async def resend(self, signed: SignedTx) -> bool:
        """Send the same signed bytes again if they are still valid (True); False if they
        expired unseen, so a new transaction may be signed. Venues without signed bytes
        (the simulation) return False: an unknown signature never reached them."""
        ...
