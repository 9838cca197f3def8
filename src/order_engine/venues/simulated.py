"""Simulated Raydium and Meteora: noisy quotes, mock signed transactions and a chain (a
`SwapLedger`) on which a submitted swap lands (or reverts on slippage) after a short delay.

Prices are reproducible: each venue draws from `random.Random` seeded by (seed, venue).
Every latency is multiplied by `latency_scale` in one place (`_scaled`); 0 makes the venue
answer at once and land swaps as soon as they are accepted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal

from order_engine.domain.errors import (
    NoRouteError,
    SlippageExceededError,
    UnknownTokenError,
    VenueUnavailableError,
)
from order_engine.domain.orders import Execution
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import Token, find_token
from order_engine.venues.base import SwapTransaction, TxState, TxStatus
from order_engine.venues.ledger import InMemorySwapLedger, LedgerEntry, SwapLedger
from order_engine.venues.market import base_price

log = logging.getLogger(__name__)

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_UNIFORM_STEPS = 1_000_000_000  # resolution of a uniform draw: 1e-9 of the band
_PRICE_CONTEXT = Context(prec=18)  # significant digits kept in a quoted price
EXECUTED_PRICE_PLACES = 12
SLIPPAGE_REASON = "slippage exceeded"


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """How a simulated venue prices and how long it takes (before latency scaling)."""

    name: str
    fee: Decimal
    variance_low: Decimal
    variance_high: Decimal
    quote_latency_s: float = 0.2
    swap_latency_s: tuple[float, float] = (2.0, 3.0)
    drift: Decimal = Decimal("0.005")


RAYDIUM = VenueProfile("raydium", Decimal("0.003"), Decimal("0.98"), Decimal("1.02"))
METEORA = VenueProfile("meteora", Decimal("0.002"), Decimal("0.97"), Decimal("1.02"))


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as Solana uses for keys and signatures."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58_ALPHABET[rest])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def mock_signature() -> str:
    """64 random bytes in base58 (87-88 chars). Drawn from the OS, not the seeded source,
    so that processes sharing a seed never mint the same signature."""
    first = secrets.randbelow(255) + 1  # a non-zero first byte keeps the length >= 87
    return b58encode(bytes([first]) + secrets.token_bytes(63))


def uniform(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    """A Decimal drawn uniformly from [low, high] in 1e-9 steps of the band (no floats)."""
    return low + (high - low) * Decimal(rng.randint(0, _UNIFORM_STEPS)) / _UNIFORM_STEPS


def _swap_steps(
    quote: Quote, token_in: Token, token_out: Token, venue: str, min_amount_out: Decimal
) -> tuple[str, ...]:
    pay = "WSOL" if token_in.native else token_in.symbol
    get = "WSOL" if token_out.native else token_out.symbol
    steps: list[str] = []
    if token_in.native:
        steps += ["create wSOL account", f"wrap {quote.amount_in} SOL -> wSOL"]
    elif token_out.native:
        steps.append("create wSOL account")
    steps.append(
        f"swap {quote.amount_in} {pay} -> {get} on {venue} (min out {min_amount_out} {get})"
    )
    if token_out.native:
        steps += ["unwrap wSOL -> SOL", "close wSOL account"]
    elif token_in.native:
        steps.append("close wSOL account")
    return tuple(steps)


class SimulatedVenue:
    """A `Venue` backed by reference prices, seeded noise and an in-memory chain."""

    def __init__(
        self,
        profile: VenueProfile,
        *,
        seed: int,
        latency_scale: float = 1.0,
        failure_rate: float = 0.0,
        ledger: SwapLedger | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be within [0, 1]")
        self._profile = profile
        self._latency_scale = latency_scale
        self._failure_rate = failure_rate
        self._quote_rng = random.Random(f"{seed}:{profile.name}:quote")
        self._fill_rng = random.Random(f"{seed}:{profile.name}:fill")
        self._fault_rng = random.Random(f"{seed}:{profile.name}:fault")
        self._ledger: SwapLedger = InMemorySwapLedger() if ledger is None else ledger
        self._now = now

    @property
    def name(self) -> str:
        return self._profile.name

    @property
    def ledger(self) -> SwapLedger:
        return self._ledger

    @property
    def profile(self) -> VenueProfile:
        return self._profile

    def _scaled(self, seconds: float) -> float:
        """The one place latencies are scaled."""
        return seconds * self._latency_scale

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote:
        delay = self._scaled(self._profile.quote_latency_s)
        if delay > 0:
            await asyncio.sleep(delay)
        noise = uniform(self._quote_rng, self._profile.variance_low, self._profile.variance_high)
        price = _PRICE_CONTEXT.create_decimal(base_price(token_in, token_out) * noise)
        amount_out = quantize(amount_in * price * (1 - self._profile.fee), token_out.decimals)
        if amount_out <= 0:
            raise NoRouteError(
                f"{self.name}: {amount_in} {token_in.symbol} buys less than one unit of "
                f"{token_out.symbol}"
            )
        log.debug(
            "%s quote %s %s -> %s %s (price %s)",
            self.name,
            amount_in,
            token_in.symbol,
            amount_out,
            token_out.symbol,
            price,
        )
        return Quote(
            self.name,
            token_in.symbol,
            token_out.symbol,
            amount_in,
            price,
            self._profile.fee,
            amount_out,
        )

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
        steps = _swap_steps(quote, token_in, token_out, self.name, min_amount_out)
        tx = SwapTransaction(mock_signature(), self.name, order_id, quote, min_amount_out, steps)
        log.debug("%s built %s for order %s: %s", self.name, tx.signature, order_id, steps)
        return tx

    async def submit(self, tx: SwapTransaction) -> None:
        """Accept `tx` onto the chain. Its outcome is decided now and lands after the swap
        latency; resending a signature the chain already holds changes nothing."""
        if await self._ledger.get(tx.signature) is not None:
            log.debug("%s ignores resent tx %s", self.name, tx.signature)
            return
        if self._fault_rng.random() < self._failure_rate:
            raise VenueUnavailableError(f"{self.name} is unavailable (simulated outage)")
        try:
            decimals_out = find_token(tx.quote.token_out, field="tokenOut").decimals
        except UnknownTokenError as exc:
            raise NoRouteError(f"{self.name}: {exc.message}") from None
        low, high = self._profile.swap_latency_s
        delay = self._scaled(self._fill_rng.uniform(low, high))
        entry = self._outcome(tx, decimals_out, lands_at=self._now() + delay)
        if await self._ledger.record(entry):
            log.debug(
                "%s accepted tx %s (lands in %.3fs: %s, min %s)",
                self.name,
                tx.signature,
                delay,
                entry.state.value,
                tx.min_amount_out,
            )

    def _outcome(self, tx: SwapTransaction, decimals_out: int, *, lands_at: float) -> LedgerEntry:
        """Fill at the quoted price moved by the drift; revert below the minimum."""
        drift = self._profile.drift
        executed = tx.quote.price * uniform(self._fill_rng, 1 - drift, 1 + drift)
        amount_in = tx.quote.amount_in
        amount_out = quantize(amount_in * executed * (1 - self._profile.fee), decimals_out)
        base = (tx.signature, self.name, tx.order_id, lands_at)
        if amount_out < tx.min_amount_out:
            detail = (
                f"{self.name}: output {amount_out} {tx.quote.token_out} fell below "
                f"the minimum {tx.min_amount_out}; the swap reverted"
            )
            return LedgerEntry(*base, TxState.REVERTED, reason=SLIPPAGE_REASON, detail=detail)
        price = quantize(amount_out / amount_in, EXECUTED_PRICE_PLACES)
        execution = Execution(self.name, tx.signature, price, amount_out)
        return LedgerEntry(*base, TxState.LANDED, execution=execution)

    async def confirm(self, signature: str) -> Execution:
        entry = await self._ledger.get(signature)
        if entry is None:
            raise VenueUnavailableError(f"{self.name} does not know transaction {signature}")
        await asyncio.sleep(max(0.0, entry.lands_at - self._now()))
        if entry.execution is None:
            raise SlippageExceededError(entry.detail)
        return entry.execution

    async def status(self, signature: str) -> TxStatus:
        entry = await self._ledger.get(signature)
        if entry is None:
            return TxStatus(TxState.UNKNOWN)
        state = entry.state_at(self._now())
        if state is TxState.PENDING:
            return TxStatus(state)
        return TxStatus(state, entry.execution, entry.reason)

    async def executions(self, order_id: str) -> list[Execution]:
        """Swaps of this venue that landed for `order_id` (tests use it to prove none ran
        twice)."""
        return [
            e.execution
            for e in await self._ledger.entries(order_id)
            if e.venue == self.name and e.execution is not None
        ]


def simulated_venues(
    *,
    seed: int,
    latency_scale: float = 1.0,
    failure_rate: float = 0.0,
    ledger: SwapLedger | None = None,
) -> list[SimulatedVenue]:
    """Raydium then Meteora, sharing one seed, latency scale, failure rate and chain."""
    chain = InMemorySwapLedger() if ledger is None else ledger
    return [
        SimulatedVenue(
            profile,
            seed=seed,
            latency_scale=latency_scale,
            failure_rate=failure_rate,
            ledger=chain,
        )
        for profile in (RAYDIUM, METEORA)
    ]
