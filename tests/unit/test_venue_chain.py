"""The simulated chain: submitted swaps land once, revert on slippage, drift within 0.5%."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from order_engine.domain.errors import SlippageExceededError, VenueUnavailableError
from order_engine.domain.orders import Execution
from order_engine.domain.quotes import quantize
from order_engine.domain.tokens import TOKENS
from order_engine.venues.base import TxState
from order_engine.venues.sim.simulated import (
    METEORA,
    RAYDIUM,
    SLIPPAGE_REASON,
    SimulatedVenue,
)
from tests.unit.venue_helpers import built, landed_count, venue

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


async def test_a_normal_swap_lands_exactly_once() -> None:
    clock = [1_000.0]
    v = SimulatedVenue(RAYDIUM, seed=42, latency_scale=1, now=lambda: clock[0])
    tx = await built(v, order_id="ord-9")
    assert (await v.status(tx.signature)).state is TxState.UNKNOWN  # built, not sent

    await v.submit(tx)
    clock[0] += 1.9  # a swap takes 2-3 s
    assert (await v.status(tx.signature)).state is TxState.PENDING
    clock[0] += 1.2
    execution = await v.confirm(tx.signature)

    assert isinstance(execution, Execution)
    assert (execution.dex, execution.tx_hash) == ("raydium", tx.signature)
    assert execution.amount_out >= tx.min_amount_out
    assert execution.executed_price == quantize(execution.amount_out / D("1.5"), 12)
    status = await v.status(tx.signature)
    assert (status.state, status.execution, status.reason) == (TxState.LANDED, execution, None)
    assert await v.executions("ord-9") == [execution]
    assert await v.executions("other") == []
    assert landed_count(v) == 1


async def test_resending_the_same_transaction_does_not_execute_twice() -> None:
    v = venue()
    tx = await built(v)
    await v.submit(tx)
    first = await v.confirm(tx.signature)
    await v.submit(tx)
    await asyncio.sleep(0)
    assert await v.confirm(tx.signature) == first
    assert await v.executions("ord-1") == [first] and landed_count(v) == 1


async def test_an_unavailable_venue_executes_nothing() -> None:
    v = venue(failure_rate=1.0)
    tx = await built(v)
    for _ in range(3):
        with pytest.raises(VenueUnavailableError, match="raydium"):
            await v.submit(tx)
    assert (await v.status(tx.signature)).state is TxState.UNKNOWN
    with pytest.raises(VenueUnavailableError):
        await v.confirm(tx.signature)
    assert await v.executions("ord-1") == [] and landed_count(v) == 0


async def test_failure_rate_between_zero_and_one_fails_some_submits() -> None:
    v = venue(seed=9, failure_rate=0.5)
    outcomes = []
    for i in range(40):
        try:
            await v.submit(await built(v, order_id=f"o{i}"))
            outcomes.append(True)
        except VenueUnavailableError:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35
    await asyncio.sleep(0)
    assert landed_count(v) == outcomes.count(True)


async def test_output_below_the_minimum_reverts_and_executes_nothing() -> None:
    v = venue()
    q = await v.quote(SOL, USDC, D("1.5"))
    impossible = q.amount_out * D("1.006")  # above the best drift of +0.5%
    tx = await v.build(q, token_in=SOL, token_out=USDC, min_amount_out=impossible, order_id="ord-2")
    await v.submit(tx)
    with pytest.raises(SlippageExceededError, match="below the minimum"):
        await v.confirm(tx.signature)
    status = await v.status(tx.signature)
    assert (status.state, status.execution, status.reason) == (
        TxState.REVERTED,
        None,
        SLIPPAGE_REASON,
    )
    assert await v.executions("ord-2") == [] and landed_count(v) == 0


async def test_drift_stays_within_half_a_percent_of_the_quote() -> None:
    v = venue(seed=21)
    ratios = []
    for i in range(150):
        tx = await built(v, amount="10", min_out=D(0), order_id=f"o{i}")
        await v.submit(tx)
        execution = await v.confirm(tx.signature)
        ratios.append(execution.amount_out / tx.quote.amount_out)
    tolerance = D("1e-6")
    assert all(D("0.995") - tolerance <= r <= D("1.005") + tolerance for r in ratios)
    assert min(ratios) < D("0.998") and max(ratios) > D("1.002")  # drift is applied both ways
    assert landed_count(v) == 150


async def test_drift_is_reproducible_with_the_seed() -> None:
    async def run(seed: int) -> list[Decimal]:
        v = venue(seed=seed)
        outs = []
        for i in range(5):
            tx = await built(v, min_out=D(0), order_id=f"o{i}")
            await v.submit(tx)
            outs.append((await v.confirm(tx.signature)).amount_out)
        return outs

    assert await run(4) == await run(4)


async def test_swap_lands_after_its_scaled_latency() -> None:
    v = SimulatedVenue(RAYDIUM, seed=1, latency_scale=0.02)  # 2-3 s become 40-60 ms
    tx = await built(v)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await v.submit(tx)
    await asyncio.sleep(0.01)
    assert (await v.status(tx.signature)).state is TxState.PENDING
    await v.confirm(tx.signature)
    assert 0.035 <= loop.time() - started < 1.0
    assert (await v.status(tx.signature)).state is TxState.LANDED


async def test_cancelling_a_confirm_leaves_the_transaction_alone() -> None:
    v = SimulatedVenue(RAYDIUM, seed=1, latency_scale=0.01)
    tx = await built(v)
    await v.submit(tx)
    waiter = asyncio.create_task(v.confirm(tx.signature))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    execution = await v.confirm(tx.signature)
    assert await v.executions("ord-1") == [execution]


async def test_confirm_and_status_of_an_unknown_signature() -> None:
    v = venue()
    with pytest.raises(VenueUnavailableError, match="does not know"):
        await v.confirm("1" * 88)
    status = await v.status("1" * 88)
    assert (status.state, status.execution, status.reason) == (TxState.UNKNOWN, None, None)


async def test_many_concurrent_swaps_each_land_once() -> None:
    v = SimulatedVenue(METEORA, seed=3, latency_scale=0.005)
    txs = [await built(v, min_out=D(0), order_id=f"o{i}") for i in range(30)]
    await asyncio.gather(*(v.submit(tx) for tx in txs))
    executions = await asyncio.gather(*(v.confirm(tx.signature) for tx in txs))
    assert len({e.tx_hash for e in executions}) == 30
    assert [len(await v.executions(f"o{i}")) for i in range(30)] == [1] * 30
