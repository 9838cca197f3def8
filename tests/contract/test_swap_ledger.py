"""Contract of `SwapLedger` (the simulated chain): every implementation must pass it, and
a simulated venue on it must answer the same from any process that shares it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from order_engine.adapters.redis_ledger import RedisSwapLedger
from order_engine.domain.errors import SlippageExceededError, VenueUnavailableError
from order_engine.domain.orders import Execution
from order_engine.venues.base import TxState
from order_engine.venues.sim.ledger import InMemorySwapLedger, LedgerEntry, SwapLedger
from order_engine.venues.sim.simulated import RAYDIUM, SimulatedVenue
from tests.services import delete_prefixed_keys, require_redis_url
from tests.unit.venue_helpers import built

D = Decimal


class _SelfCleaningRedisLedger(RedisSwapLedger):
    def __init__(self, url: str) -> None:
        self.prefix = f"oe-test-{uuid.uuid4().hex[:12]}"
        self.url = url
        super().__init__(url, prefix=self.prefix)

    async def close(self) -> None:
        await super().close()
        await delete_prefixed_keys(self.url, self.prefix)


async def build_memory() -> SwapLedger:
    return InMemorySwapLedger()


async def build_redis() -> SwapLedger:
    return _SelfCleaningRedisLedger(require_redis_url())


IMPLEMENTATIONS = [
    pytest.param(build_memory, id="memory"),
    pytest.param(build_redis, id="redis"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[SwapLedger]:
    build: Callable[[], Awaitable[SwapLedger]] = request.param
    instance = await build()
    yield instance
    await instance.close()


def landed(signature: str, order_id: str = "ord-1", lands_at: float = 10.0) -> LedgerEntry:
    execution = Execution("raydium", signature, D("150.123456789012"), D("225.184185"))
    return LedgerEntry(signature, "raydium", order_id, lands_at, TxState.LANDED, execution)


def reverted(signature: str, order_id: str = "ord-1") -> LedgerEntry:
    return LedgerEntry(
        signature, "meteora", order_id, 12.5, TxState.REVERTED, None, "slippage", "fell below"
    )


async def test_an_entry_round_trips_exactly(ledger: SwapLedger) -> None:
    assert await ledger.get("sig-1") is None
    assert await ledger.record(landed("sig-1"))
    assert await ledger.record(reverted("sig-2"))
    assert await ledger.get("sig-1") == landed("sig-1")
    assert await ledger.get("sig-2") == reverted("sig-2")


async def test_a_signature_is_recorded_once(ledger: SwapLedger) -> None:
    assert await ledger.record(landed("sig-1", lands_at=10.0))
    assert not await ledger.record(landed("sig-1", lands_at=99.0))
    assert await ledger.get("sig-1") == landed("sig-1", lands_at=10.0)
    assert await ledger.entries("ord-1") == [landed("sig-1", lands_at=10.0)]


async def test_entries_are_per_order_in_recording_order(ledger: SwapLedger) -> None:
    await ledger.record(reverted("sig-a", "ord-1"))
    await ledger.record(landed("sig-b", "ord-2"))
    await ledger.record(landed("sig-c", "ord-1"))
    assert [e.signature for e in await ledger.entries("ord-1")] == ["sig-a", "sig-c"]
    assert [e.signature for e in await ledger.entries("ord-2")] == ["sig-b"]
    assert await ledger.entries("ord-3") == []


def test_the_state_is_pending_until_it_lands() -> None:
    entry = landed("sig-1", lands_at=10.0)
    assert entry.state_at(9.999) is TxState.PENDING
    assert entry.state_at(10.0) is TxState.LANDED


async def test_a_second_venue_on_the_same_chain_knows_the_first_ones_swap(
    ledger: SwapLedger,
) -> None:
    """What a worker taking over a dead worker's job relies on: another process's venue
    object, sharing only the chain, reports the swap and never accepts it twice."""
    clock = [1_000.0]
    first = SimulatedVenue(RAYDIUM, seed=1, latency_scale=1, ledger=ledger, now=lambda: clock[0])
    other = SimulatedVenue(RAYDIUM, seed=2, latency_scale=1, ledger=ledger, now=lambda: clock[0])
    tx = await built(first, order_id="ord-7", min_out=D(0))
    await first.submit(tx)
    assert (await other.status(tx.signature)).state is TxState.PENDING
    await other.submit(tx)  # a resend after the takeover changes nothing
    clock[0] += 3.0
    status = await other.status(tx.signature)
    assert status.state is TxState.LANDED and status.execution is not None
    assert (
        await other.confirm(tx.signature) == status.execution == await first.confirm(tx.signature)
    )
    assert await other.executions("ord-7") == [status.execution]


async def test_a_reverted_swap_reads_the_same_everywhere(ledger: SwapLedger) -> None:
    first = SimulatedVenue(RAYDIUM, seed=1, latency_scale=0, ledger=ledger)
    other = SimulatedVenue(RAYDIUM, seed=2, latency_scale=0, ledger=ledger)
    tx = await built(first, order_id="ord-8", min_out=D("1000000"))
    await first.submit(tx)
    status = await other.status(tx.signature)
    assert (status.state, status.execution) == (TxState.REVERTED, None)
    with pytest.raises(SlippageExceededError, match="below the minimum"):
        await other.confirm(tx.signature)
    assert await other.executions("ord-8") == []


async def test_an_unreachable_redis_chain_is_a_transient_venue_error() -> None:
    ledger = RedisSwapLedger("redis://127.0.0.1:9/0")  # nothing listens on port 9
    try:
        with pytest.raises(VenueUnavailableError, match="unreachable"):
            await ledger.get("sig-1")
        with pytest.raises(VenueUnavailableError, match="raydium"):
            await ledger.record(landed("sig-1"))
    finally:
        await ledger.close()
