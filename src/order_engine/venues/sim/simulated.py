"""Simulated Raydium and Meteora: pools that quote and swap, mock signed transactions and a
chain (a `SwapLedger`) on which a submitted swap lands (or reverts on slippage) later.

Each venue holds one pool per pair (`pool_book`: Raydium constant-product, Meteora DLMM
bins). Fetching a curve re-prices the pool to reference × U(variance_low, variance_high),
the product description's noisy quote, and returns a frozen snapshot that quotes any
amount (`curves`). A swap executes on the pool as it stands: the quoted mid moved by the
drift and by the swaps that landed since the last quote; a landed swap moves the pool.

A launch opens a new token's pool on the venue it names (`open_pool`, `apply_launch`); the
first swaps there execute with a wider drift, so a tight slippage tolerance may revert.

Prices are reproducible: each venue draws from `random.Random` seeded by (seed, venue).
Every latency is multiplied by `latency_scale` in one place (`_scaled`); 0 makes the venue
answer at once and land swaps as soon as they are accepted. Pools live in the process;
the chain's ledger may be shared between processes. The venues of one engine share one
`ReferencePrices` over that engine's `TokenRegistry` (`simulated_venues(tokens=...)`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.errors import (
    NoRouteError,
    SlippageExceededError,
    UnknownTokenError,
    VenueUnavailableError,
)
from order_engine.domain.launches import Launch
from order_engine.domain.legs import SignedTx
from order_engine.domain.orders import Execution
from order_engine.domain.pools import InsufficientLiquidityError, Pool
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.venues.base import SwapTransaction, TxState, TxStatus
from order_engine.venues.sim.curves import PRICE_CONTEXT, PoolCurve
from order_engine.venues.sim.ledger import InMemorySwapLedger, LedgerEntry, SwapLedger
from order_engine.venues.sim.market import ReferencePrices
from order_engine.venues.sim.pool_book import PoolBook, PoolPair
from order_engine.venues.sim.transactions import swap_steps

log = logging.getLogger(__name__)

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_UNIFORM_STEPS = 1_000_000_000  # resolution of a uniform draw: 1e-9 of the band
EXECUTED_PRICE_PLACES = 12
SLIPPAGE_REASON = "slippage exceeded"


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """How a simulated venue prices and how long it takes (before latency scaling).

    `fee` is the pool fee (Meteora: the base fee, to which the variable fee adds); the mid
    price of a fetched curve is reference × U(variance_low, variance_high); `drift` bounds
    the move between quote and execution; a quote expires `quote_ttl_s` after it is fetched.
    """

    name: str
    fee: Decimal
    variance_low: Decimal
    variance_high: Decimal
    quote_latency_s: float = 0.2
    swap_latency_s: tuple[float, float] = (2.0, 3.0)
    drift: Decimal = Decimal("0.005")
    quote_ttl_s: float = 10.0


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


class SimulatedVenue:
    """A `Venue` backed by reference prices, seeded noise, pools and an in-memory chain."""

    def __init__(
        self,
        profile: VenueProfile,
        *,
        seed: int,
        latency_scale: float = 1.0,
        failure_rate: float = 0.0,
        ledger: SwapLedger | None = None,
        now: Callable[[], float] = time.time,
        prices: ReferencePrices | None = None,  # its market (default: one of its own)
    ) -> None:
        if latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be within [0, 1]")
        self._prices = ReferencePrices() if prices is None else prices
        self._pools = PoolBook(profile.name, fee=profile.fee, prices=self._prices)
        self._profile = profile
        self._latency_scale = latency_scale
        self._failure_rate = failure_rate
        self._quote_rng = random.Random(f"{seed}:{profile.name}:quote")
        self._fill_rng = random.Random(f"{seed}:{profile.name}:fill")
        self._fault_rng = random.Random(f"{seed}:{profile.name}:fault")
        self._ledger: SwapLedger = InMemorySwapLedger() if ledger is None else ledger
        self._now = now
        self._submitting = asyncio.Lock()  # a pool takes one swap at a time

    @property
    def name(self) -> str:
        return self._profile.name

    @property
    def ledger(self) -> SwapLedger:
        return self._ledger

    @property
    def profile(self) -> VenueProfile:
        return self._profile

    @property
    def prices(self) -> ReferencePrices:
        return self._prices

    def _scaled(self, seconds: float) -> float:
        """The one place latencies are scaled."""
        return seconds * self._latency_scale

    def pool(self, token_in: Token, token_out: Token) -> Pool:
        """The pair's pool as it stands now (what the next swap starts from)."""
        return self._pools.pool(self._pools.pair(token_in, token_out))

    def open_pool(self, launch: Launch) -> bool:
        """Open `launch`'s pool if it names this venue (registering the token and its
        price here); False, and nothing changes, if it names another or is open already."""
        if launch.venue != self.name:
            return False
        self._prices.register_launch(launch)
        opened = self._pools.open_launch(launch)
        if opened:
            log.info("%s opened %s/%s at %s", self.name, launch.symbol, launch.quote, launch.price)
        return opened

    async def curve(self, token_in: Token, token_out: Token) -> PoolCurve:
        """Fetch the pool (one quote latency), re-priced to reference × the variance noise."""
        pair = self._pools.pair(token_in, token_out)
        delay = self._scaled(self._profile.quote_latency_s)
        if delay > 0:
            await asyncio.sleep(delay)
        noise = uniform(self._quote_rng, self._profile.variance_low, self._profile.variance_high)
        mid = PRICE_CONTEXT.create_decimal(self._pools.reference_price(pair) * noise)
        pool = self._pools.reprice(pair, mid)
        expires_at_ms = round((self._now() + self._profile.quote_ttl_s) * 1000)
        log.debug("%s %s pool v%d at mid %s", self.name, pair, pool.version, mid)
        return PoolCurve.of(
            self.name,
            pool,
            token_in,
            token_out,
            a_to_b=pair.sells_base(token_in),
            expires_at_ms=expires_at_ms,
        )

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote:
        return (await self.curve(token_in, token_out)).quote(amount_in)

    def expect(self, quote: Quote, order_id: str) -> None:
        """Not counted: the simulated market moves under every swap anyway."""

    def release(self, order_id: str) -> None:
        """Nothing was counted."""

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
        """A mock signature; the simulated chain has no wallets, so `owner` changes
        nothing here."""
        if quote.venue != self.name:
            raise ValueError(f"{self.name} cannot build a swap quoted by {quote.venue}")
        steps = swap_steps(quote, token_in, token_out, self.name, min_amount_out)
        tx = SwapTransaction(mock_signature(), self.name, order_id, quote, min_amount_out, steps)
        log.debug("%s built %s for order %s: %s", self.name, tx.signature, order_id, steps)
        return tx

    async def submit(self, tx: SwapTransaction) -> None:
        """Accept `tx` onto the chain. Its outcome is decided now, on the pool as it stands,
        and lands after the swap latency; resending a signature the chain already holds
        changes nothing."""
        async with self._submitting:
            if await self._ledger.get(tx.signature) is not None:
                log.debug("%s ignores resent tx %s", self.name, tx.signature)
                return
            if self._fault_rng.random() < self._failure_rate:
                raise VenueUnavailableError(f"{self.name} is unavailable (simulated outage)")
            try:
                token_in = self._prices.tokens.find(tx.quote.token_in, field="tokenIn")
                token_out = self._prices.tokens.find(tx.quote.token_out, field="tokenOut")
            except UnknownTokenError as exc:
                raise NoRouteError(f"{self.name}: {exc.message}") from None
            pair = self._pools.pair(token_in, token_out)
            low, high = self._profile.swap_latency_s
            delay = self._scaled(self._fill_rng.uniform(low, high))
            entry, swapped = self._outcome(tx, pair, token_out, lands_at=self._now() + delay)
            if await self._ledger.record(entry):
                self._pools.executed(pair, swapped)
                log.debug(
                    "%s accepted tx %s (lands in %.3fs: %s, min %s)",
                    self.name,
                    tx.signature,
                    delay,
                    entry.state.value,
                    tx.min_amount_out,
                )

    def _outcome(
        self, tx: SwapTransaction, pair: PoolPair, token_out: Token, *, lands_at: float
    ) -> tuple[LedgerEntry, tuple[Pool, Pool] | None]:
        """Swap on the pool as it stands, the quoted mid moved by the drift; revert below
        the minimum. If it lands, also the pool it swapped on and the pool it left."""
        a_to_b = pair.sells_base(tx.quote.token_in)
        bound = self._pools.drift_bound(pair, self._profile.drift)
        drift = uniform(self._fill_rng, 1 - bound, 1 + bound)
        pool = self._pools.execution_pool(pair, tx.quote, drift)
        amount_in = tx.quote.amount_in
        base = (tx.signature, self.name, tx.order_id, lands_at)
        try:
            result = pool.swap(amount_in, a_to_b=a_to_b)
        except InsufficientLiquidityError:
            detail = f"{self.name}: the {pair} pool cannot absorb {amount_in}; the swap reverted"
            return LedgerEntry(*base, TxState.REVERTED, reason=SLIPPAGE_REASON, detail=detail), None
        amount_out = quantize(result.amount_out, token_out.decimals)
        if amount_out < tx.min_amount_out:
            detail = (
                f"{self.name}: output {amount_out} {tx.quote.token_out} fell below "
                f"the minimum {tx.min_amount_out}; the swap reverted"
            )
            return LedgerEntry(*base, TxState.REVERTED, reason=SLIPPAGE_REASON, detail=detail), None
        price = quantize(amount_out / amount_in, EXECUTED_PRICE_PLACES)
        execution = Execution(self.name, tx.signature, price, amount_out)
        landed = LedgerEntry(*base, TxState.LANDED, execution=execution)
        return landed, (pool, result.pool_after)

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
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

    def signed_here(self, signed: SignedTx) -> bool:
        return True

    async def resend(self, signed: SignedTx) -> bool:
        return False  # a signature the ledger does not hold never reached this venue

    async def executions(self, order_id: str) -> list[Execution]:
        """Swaps of this venue that landed for `order_id` (tests use it to prove none ran
        twice)."""
        return [
            e.execution
            for e in await self._ledger.entries(order_id)
            if e.venue == self.name and e.execution is not None
        ]


def apply_launch(venues: Sequence[SimulatedVenue], launch: Launch) -> bool:
    """Apply `launch` to `venues`: register its token and price in their market(s), and
    open its pool on the venue it names if that is one of them. True if one opened it now."""
    for market in {id(v.prices): v.prices for v in venues}.values():
        market.register_launch(launch)
    opened = [v.open_pool(launch) for v in venues]  # every venue, not just up to the first
    return any(opened)


def simulated_venues(
    *,
    seed: int,
    latency_scale: float = 1.0,
    failure_rate: float = 0.0,
    ledger: SwapLedger | None = None,
    now: Callable[[], float] = time.time,
    tokens: TokenRegistry,
) -> list[SimulatedVenue]:
    """Raydium then Meteora, sharing one seed, latency scale, failure rate, chain, clock
    and market (reference prices over the engine's `tokens`)."""
    chain = InMemorySwapLedger() if ledger is None else ledger
    prices = ReferencePrices(tokens)
    return [
        SimulatedVenue(
            profile,
            seed=seed,
            latency_scale=latency_scale,
            failure_rate=failure_rate,
            ledger=chain,
            now=now,
            prices=prices,
        )
        for profile in (RAYDIUM, METEORA)
    ]
