"""Fakes for engine unit tests: a stepping clock, a venue whose every answer the test
scripts, and a small harness wiring `OrderExecutor` to the in-memory adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import SlippageExceededError, VenueUnavailableError
from order_engine.domain.legs import SignedTx
from order_engine.domain.orders import Execution, Order, OrderEvent
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import TOKENS, Token, TokenRegistry
from order_engine.engine.account_ports import Funds
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.paths import TwoHopPolicy
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy
from order_engine.venues.base import PriceCurve, SwapTransaction, TxState, TxStatus, Venue

D = Decimal


class FakeClock:
    """Every reading is one millisecond after the previous one."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        self.ms += 1
        return self.ms


@dataclass(frozen=True, slots=True)
class LinearCurve:
    """A pool with no price impact: every amount at one price."""

    venue: str
    token_in: Token
    token_out: Token
    price: Decimal
    fee: Decimal
    expires_at_ms: int | None = None
    depth: Decimal | None = None  # tokenIn in a constant-product pool; None = no impact

    def quote(self, amount_in: Decimal) -> Quote:
        net = amount_in * (1 - self.fee)
        out = net * self.price
        if self.depth is not None:  # dy = y·dx' / (x + dx')
            out = self.depth * self.price * net / (self.depth + net)
        out = quantize(out, self.token_out.decimals)
        t_in, t_out = self.token_in.symbol, self.token_out.symbol
        return Quote(
            self.venue,
            t_in,
            t_out,
            amount_in,
            self.price,
            self.fee,
            out,
            fee_amount=amount_in * self.fee,
            expires_at_ms=self.expires_at_ms,
        )

    def amount_out(self, amount_in: Decimal) -> Decimal:
        return self.quote(amount_in).amount_out


@dataclass(slots=True)
class _ChainTx:
    tx: SwapTransaction
    state: TxState = TxState.PENDING
    execution: Execution | None = None
    final: asyncio.Event = field(default_factory=asyncio.Event)


class ScriptedVenue:
    """A `Venue` with a fixed price (with price impact when it has a `depth`). Scripts
    (consumed one entry per call): `fills` (ratio of the quoted output a landed swap
    delivers; below `min_amount_out` it reverts), `expiries` (each quote's expiry),
    `submit_errors` (raised before the tx reaches the chain), `sent_then_errors` (raised
    after it reached the chain: an ambiguous send) and `confirm_errors` (raised when
    `confirm` is called). `auto_land=False` keeps swaps pending until `land()`."""

    def __init__(
        self,
        name: str,
        price: str,
        fee: str = "0.003",
        *,
        fills: Sequence[str] = (),
        submit_errors: Sequence[Exception] = (),
        sent_then_errors: Sequence[Exception] = (),
        confirm_errors: Sequence[Exception] = (),
        quote_error: Exception | None = None,
        auto_land: bool = True,
        depth: str | None = None,
        expiries: Sequence[int | None] = (),
    ) -> None:
        self._name, self.price, self.fee = name, D(price), D(fee)
        self.fills = [D(f) for f in fills]
        self.submit_errors, self.sent_then_errors = list(submit_errors), list(sent_then_errors)
        self.confirm_errors = list(confirm_errors)
        self.quote_error, self.auto_land = quote_error, auto_land
        self.expiries: list[int | None] = list(expiries)  # expires_at_ms, one per quote
        self.depth = None if depth is None else D(depth)
        self.quote_gate: asyncio.Event | None = None
        self.build_gate: asyncio.Event | None = None
        self.quote_started, self.build_started = asyncio.Event(), asyncio.Event()
        self.confirm_waiting = asyncio.Event()
        self.quote_calls = 0
        self.expected: list[tuple[str, Quote]] = []  # (order id, chosen quote), by `expect`
        self.released: list[str] = []
        self.builds: list[SwapTransaction] = []
        self.owners: list[str | None] = []  # the account each build was for
        self.submits: list[str] = []
        self.status_calls: list[str] = []
        self.chain: dict[str, _ChainTx] = {}

    @property
    def name(self) -> str:
        return self._name

    async def curve(self, token_in: Token, token_out: Token) -> PriceCurve:
        self.quote_calls += 1
        self.quote_started.set()
        await _gate(self.quote_gate)
        if self.quote_error is not None:
            raise self.quote_error
        expires = self.expiries.pop(0) if self.expiries else None
        return LinearCurve(
            self.name, token_in, token_out, self.price, self.fee, expires, self.depth
        )

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote:
        return (await self.curve(token_in, token_out)).quote(amount_in)

    def expect(self, quote: Quote, order_id: str) -> None:
        self.expected.append((order_id, quote))

    def release(self, order_id: str) -> None:
        self.released.append(order_id)

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
        self.owners.append(owner)
        self.build_started.set()
        await _gate(self.build_gate)
        signature = f"{self.name}-tx-{len(self.builds) + 1}"
        tx = SwapTransaction(
            signature, self.name, order_id, quote, min_amount_out, (f"swap on {self.name}",)
        )
        self.builds.append(tx)
        return tx

    async def submit(self, tx: SwapTransaction) -> None:
        await asyncio.sleep(0)
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        self.submits.append(tx.signature)
        self.chain[tx.signature] = _ChainTx(tx)
        if self.auto_land:
            self.land(tx.signature)
        if self.sent_then_errors:
            raise self.sent_then_errors.pop(0)

    def land(self, signature: str) -> None:
        """Finalise a pending swap: it lands, or reverts if it fills below its minimum."""
        record = self.chain[signature]
        tx = record.tx
        ratio = self.fills.pop(0) if self.fills else D(1)
        decimals = TOKENS[tx.quote.token_out].decimals  # scripted venues trade built-ins
        out = quantize(tx.quote.amount_out * ratio, decimals)
        if out < tx.min_amount_out:
            record.state = TxState.REVERTED
        else:
            price = quantize(out / tx.quote.amount_in, 12)
            record.state = TxState.LANDED
            record.execution = Execution(self.name, signature, price, out)
        record.final.set()

    def land_all(self) -> None:
        for signature, record in self.chain.items():
            if record.state is TxState.PENDING:
                self.land(signature)

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
        await asyncio.sleep(0)
        if self.confirm_errors:
            raise self.confirm_errors.pop(0)
        record = self.chain.get(signature)
        if record is None:
            raise VenueUnavailableError(f"{self.name} does not know {signature}")
        self.confirm_waiting.set()
        await record.final.wait()
        if record.execution is None:
            raise SlippageExceededError(f"{self.name}: {signature} reverted on slippage")
        return record.execution

    async def status(self, signature: str) -> TxStatus:
        self.status_calls.append(signature)
        record = self.chain.get(signature)
        if record is None:
            return TxStatus(TxState.UNKNOWN)
        return TxStatus(record.state, record.execution)

    def signed_here(self, signed: SignedTx) -> bool:
        return True

    async def resend(self, signed: SignedTx) -> bool:
        return False

    def executions(self) -> list[Execution]:
        return [r.execution for r in self.chain.values() if r.execution is not None]


class RecordingVenue:
    """Wraps a venue and keeps every transaction it built."""

    def __init__(self, inner: Venue) -> None:
        self.inner = inner
        self.built: list[SwapTransaction] = []

    @property
    def name(self) -> str:
        return self.inner.name

    async def curve(self, token_in: Token, token_out: Token) -> PriceCurve:
        return await self.inner.curve(token_in, token_out)

    async def quote(self, token_in: Token, token_out: Token, amount_in: Decimal) -> Quote:
        return await self.inner.quote(token_in, token_out, amount_in)

    def expect(self, quote: Quote, order_id: str) -> None:
        self.inner.expect(quote, order_id)

    def release(self, order_id: str) -> None:
        self.inner.release(order_id)

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
        tx = await self.inner.build(
            quote,
            token_in=token_in,
            token_out=token_out,
            min_amount_out=min_amount_out,
            order_id=order_id,
            owner=owner,
        )
        self.built.append(tx)
        return tx

    async def submit(self, tx: SwapTransaction) -> None:
        await self.inner.submit(tx)

    async def confirm(self, signature: str, *, signed: SignedTx | None = None) -> Execution:
        return await self.inner.confirm(signature, signed=signed)

    async def status(self, signature: str) -> TxStatus:
        return await self.inner.status(signature)

    def signed_here(self, signed: SignedTx) -> bool:
        return self.inner.signed_here(signed)

    async def resend(self, signed: SignedTx) -> bool:
        return await self.inner.resend(signed)


async def _gate(gate: asyncio.Event | None) -> None:
    await asyncio.sleep(0)
    if gate is not None:
        await gate.wait()


@dataclass
class Rig:
    """An `OrderExecutor` over an in-memory store and bus, with a stepping clock."""

    venues: Sequence[Venue]
    max_attempts: int = 3
    store: InMemoryOrderStore = field(default_factory=InMemoryOrderStore)
    bus: InMemoryEventBus = field(default_factory=InMemoryEventBus)
    clock: FakeClock = field(default_factory=FakeClock)
    tokens: TokenRegistry = field(default_factory=TokenRegistry)
    two_hops: TwoHopPolicy | None = None
    funds: Funds | None = None
    executor: OrderExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.policy = RetryPolicy(max_attempts=self.max_attempts, backoff_base_s=0.01)
        self.executor = OrderExecutor(
            self.store,
            self.bus,
            self.venues,
            self.clock,
            self.policy,
            tokens=self.tokens,
            quote_timeout_s=5.0,
            two_hop_policy=self.two_hops,
            funds=self.funds,
        )
        self._count = 0

    async def new_order(
        self,
        token_in: str = "SOL",
        token_out: str = "USDC",
        amount: str = "2",
        slippage_bps: int = 50,
        account_id: str | None = None,
    ) -> str:
        self._count += 1
        order = Order(
            id=f"order-{self._count}",
            token_in=token_in,
            token_out=token_out,
            amount_in=D(amount),
            slippage_bps=slippage_bps,
            created_ms=self.clock.now_ms(),
            account_id=account_id,
        )
        await self.store.create(order, order.start())
        return order.id

    def job(self, order_id: str, attempt: int) -> Job:
        return Job(order_id, attempt, self.max_attempts)

    async def run(self, order_id: str) -> list[Exception]:
        """Deliver attempts 1..max like the queue would; the errors that asked for a retry."""
        raised: list[Exception] = []
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self.executor.handle(self.job(order_id, attempt))
            except Exception as exc:  # the queue would retry after this
                raised.append(exc)
            else:
                break
        return raised

    async def events(self, order_id: str, after: int = 0) -> list[OrderEvent]:
        return await self.store.events(order_id, after)

    async def dicts(self, order_id: str) -> list[dict[str, Any]]:
        return [e.as_dict() for e in await self.store.events(order_id)]

    async def statuses(self, order_id: str) -> list[tuple[str, int]]:
        return [(e.status.value, e.attempt) for e in await self.store.events(order_id)]
