"""`OrderExecutor` with in-memory adapters and scripted venues: one `handle` call per
attempt, so every retry, resume and failure is explicit."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import (
    DependencyUnavailableError,
    NoRouteError,
    SlippageExceededError,
    VenueUnavailableError,
)
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.domain.quotes import minimum_out
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.retry import RetryPolicy
from order_engine.venues.sim.simulated import simulated_venues
from tests.event_samples import payload_for
from tests.unit.fakes import RecordingVenue, Rig, ScriptedVenue

D = Decimal
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]


def two_venues(**script: Any) -> tuple[ScriptedVenue, ScriptedVenue]:
    """Raydium (the better price) with a script, and a plain, worse Meteora."""
    return ScriptedVenue("raydium", "150", **script), ScriptedVenue("meteora", "140", "0.002")


async def test_happy_path_streams_five_statuses_and_confirms_on_the_best_venue() -> None:
    rig = Rig(simulated_venues(seed=7, latency_scale=0, tokens=TokenRegistry()))
    order_id = await rig.new_order()
    async with rig.bus.subscribe(order_id) as live:
        assert await rig.run(order_id) == []
        published = [e.as_dict() for e in [await anext(live) for _ in range(4)]]
    events = await rig.dicts(order_id)
    assert [(e["status"], e["seq"], e["attempt"]) for e in events] == [
        ("pending", 1, 0),
        ("routing", 2, 1),
        ("building", 3, 1),
        ("submitted", 4, 1),
        ("confirmed", 5, 1),
    ]
    assert published == events[1:]
    building, confirmed = events[2], events[4]
    quotes = {q["venue"]: D(q["amountOut"]) for q in building["quotes"]}
    assert set(quotes) == {"raydium", "meteora"}
    best = max(quotes, key=lambda venue: quotes[venue])
    assert building["dex"] == best == confirmed["dex"]
    assert best in building["reason"]
    assert D(building["minAmountOut"]) == minimum_out(quotes[best], 50, 6)
    assert {"txHash", "executedPrice", "amountOut"} <= confirmed.keys()
    assert D(confirmed["amountOut"]) >= D(building["minAmountOut"])
    order = await rig.store.get(order_id)
    assert order.status is OrderStatus.CONFIRMED
    assert (order.tx_hash, str(order.amount_out)) == (confirmed["txHash"], confirmed["amountOut"])
    venue = next(v for v in rig.venues if v.name == best)
    assert len(await venue.executions(order_id)) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("raydium_price", "winner"), [("150", "raydium"), ("149.8", "meteora")])
async def test_router_compares_output_after_fees(raydium_price: str, winner: str) -> None:
    # after fees meteora gives 149.7 * 0.998 = 149.4006; raydium 150 * 0.997 = 149.55 beats
    # it, but raydium 149.8 * 0.997 = 149.3506 loses despite the better raw price
    raydium = ScriptedVenue("raydium", raydium_price, "0.003")
    meteora = ScriptedVenue("meteora", "149.7", "0.002")
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    assert await rig.run(order_id) == []
    building = (await rig.dicts(order_id))[2]
    assert building["dex"] == winner
    assert len(raydium.submits) + len(meteora.submits) == 1
    assert (raydium.submits or meteora.submits)[0].startswith(winner)


async def test_transient_submit_failure_retries_without_repeating_a_status() -> None:
    raydium, meteora = two_venues(submit_errors=[VenueUnavailableError("raydium down")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(VenueUnavailableError):
        await rig.executor.handle(rig.job(order_id, 1))
    assert [s for s, _ in await rig.statuses(order_id)] == HAPPY[:4]
    await rig.executor.handle(rig.job(order_id, 2))
    assert await rig.statuses(order_id) == [
        ("pending", 0),
        ("routing", 1),
        ("building", 1),
        ("submitted", 1),
        ("confirmed", 2),
    ]
    order = await rig.store.get(order_id)
    assert [(e.code, e.attempt) for e in order.attempt_errors] == [("venue_unavailable", 1)]
    assert raydium.status_calls == ["raydium-tx-1"]  # asked before building again
    assert raydium.submits == ["raydium-tx-2"]
    assert len(raydium.executions()) == 1 and meteora.submits == []
    assert order.tx_hash == (await rig.dicts(order_id))[-1]["txHash"] == "raydium-tx-2"


async def test_retry_flow_through_the_in_memory_queue() -> None:
    raydium, meteora = two_venues(submit_errors=[VenueUnavailableError("raydium down")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    queue = InMemoryJobQueue(RetryPolicy(backoff_base_s=0.01), rate_limit_max=0)
    await queue.start(rig.executor.handle)
    assert await queue.enqueue(order_id)
    async with asyncio.timeout(5):
        await queue.join()
    await queue.close()
    assert await rig.statuses(order_id) == [
        ("pending", 0),
        ("routing", 1),
        ("building", 1),
        ("submitted", 1),
        ("confirmed", 2),
    ]
    assert len(raydium.executions()) == 1


async def test_every_attempt_failing_ends_failed_with_each_attempts_error() -> None:
    down = VenueUnavailableError("raydium down")
    raydium, meteora = two_venues(submit_errors=[down, down], fills=["0.98"])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    raised = await rig.run(order_id)
    assert [type(e) for e in raised] == [VenueUnavailableError, VenueUnavailableError]
    order = await rig.store.get(order_id)
    assert order.status is OrderStatus.FAILED and order.error is not None
    assert order.error.code == "slippage_exceeded"  # the last attempt's failure
    assert "3 attempts" in order.error.message
    assert [(e.code, e.attempt) for e in order.attempt_errors] == [
        ("venue_unavailable", 1),
        ("venue_unavailable", 2),
        ("slippage_exceeded", 3),
    ]
    failed = (await rig.dicts(order_id))[-1]
    assert (failed["status"], failed["seq"], failed["attempt"]) == ("failed", 5, 3)
    assert failed["error"] == {"code": order.error.code, "message": order.error.message}
    assert [a["attempt"] for a in failed["attempts"]] == [1, 2, 3]
    assert raydium.executions() == []


async def test_a_permanent_error_fails_at_once_without_retry() -> None:
    venues = [
        ScriptedVenue(n, "150", quote_error=NoRouteError(f"{n}: no pool"))
        for n in ("raydium", "meteora")
    ]
    rig = Rig(venues)
    order_id = await rig.new_order()
    await rig.executor.handle(rig.job(order_id, 1))  # returns: the queue must not retry
    assert await rig.statuses(order_id) == [("pending", 0), ("routing", 1), ("failed", 1)]
    order = await rig.store.get(order_id)
    assert order.error is not None and order.error.code == "no_route"
    assert len(order.attempt_errors) == 1
    assert all(v.quote_calls == 1 and v.builds == [] for v in venues)


async def test_a_reverted_swap_is_retried_with_a_fresh_quote() -> None:
    raydium, meteora = two_venues(fills=["0.99", "1"])  # 0.99 < 1 - 50 bps: reverts
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(SlippageExceededError):
        await rig.executor.handle(rig.job(order_id, 1))
    assert raydium.quote_calls == meteora.quote_calls == 1
    await rig.executor.handle(rig.job(order_id, 2))
    assert raydium.quote_calls == meteora.quote_calls == 2
    assert raydium.status_calls == []  # attempt 1 recorded that tx-1 reverted
    assert raydium.submits == ["raydium-tx-1", "raydium-tx-2"]
    assert [e.tx_hash for e in raydium.executions()] == ["raydium-tx-2"]
    assert await rig.statuses(order_id) == [
        ("pending", 0),
        ("routing", 1),
        ("building", 1),
        ("submitted", 1),
        ("confirmed", 2),
    ]
    order = await rig.store.get(order_id)
    assert [(e.code, e.attempt) for e in order.attempt_errors] == [("slippage_exceeded", 1)]


async def test_zero_slippage_never_confirms_below_the_streamed_minimum() -> None:
    """A retry re-quotes (a fresh minimum); `confirmed` carries the floor that held."""
    confirmed, requoted = 0, 0
    for seed in range(12):
        rig = Rig(simulated_venues(seed=seed, latency_scale=0, tokens=TokenRegistry()))
        order_id = await rig.new_order(slippage_bps=0)
        await rig.run(order_id)
        events = await rig.dicts(order_id)
        final = events[-1]
        if final["status"] == "confirmed":
            confirmed += 1
            assert D(final["amountOut"]) >= D(final["minAmountOut"]), seed
            if final["attempt"] == 1:
                assert final["minAmountOut"] == events[2]["minAmountOut"], seed
            else:
                requoted += final["minAmountOut"] != events[2]["minAmountOut"]
            stored = await rig.store.get(order_id)
            assert stored.min_amount_out == D(final["minAmountOut"])
    assert confirmed > 0 and requoted > 0


async def test_zero_slippage_confirms_at_or_above_the_executed_attempts_minimum() -> None:
    confirmed, retried = 0, 0
    for seed in range(12):
        simulated = simulated_venues(seed=seed, latency_scale=0, tokens=TokenRegistry())
        venues = [RecordingVenue(v) for v in simulated]
        rig = Rig(venues)
        order_id = await rig.new_order(slippage_bps=0)
        await rig.run(order_id)
        order = await rig.store.get(order_id)
        retried += any(e.code == "slippage_exceeded" for e in order.attempt_errors)
        landed = [x for v in simulated for x in await v.executions(order_id)]
        assert len(landed) == (order.status is OrderStatus.CONFIRMED)
        if order.status is OrderStatus.CONFIRMED:
            confirmed += 1
            tx = next(t for v in venues for t in v.built if t.signature == order.tx_hash)
            assert tx.min_amount_out == tx.quote.amount_out  # 0 bps: the quote is the floor
            assert order.amount_out is not None and order.amount_out >= tx.min_amount_out
    assert confirmed > 0 and retried > 0


async def test_a_crash_after_the_swap_landed_confirms_without_resending() -> None:
    raydium, meteora = two_venues(confirm_errors=[RuntimeError("worker crashed")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(RuntimeError):
        await rig.executor.handle(rig.job(order_id, 1))
    assert raydium.chain["raydium-tx-1"].execution is not None  # it did land
    await rig.executor.handle(rig.job(order_id, 2))
    assert raydium.status_calls == ["raydium-tx-1"]
    assert (len(raydium.builds), raydium.submits) == (1, ["raydium-tx-1"])
    assert raydium.quote_calls == 1
    assert [s for s, _ in await rig.statuses(order_id)] == HAPPY
    assert (await rig.dicts(order_id))[-1]["txHash"] == "raydium-tx-1"
    assert len(raydium.executions()) == 1


async def test_a_confirm_found_on_redelivery_carries_the_redelivered_attempt() -> None:
    raydium, meteora = two_venues(confirm_errors=[RuntimeError("worker crashed")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(RuntimeError):
        await rig.executor.handle(rig.job(order_id, 1))
    await rig.executor.handle(rig.job(order_id, 2))
    assert (await rig.statuses(order_id))[-1] == ("confirmed", 2)


async def test_a_pending_swap_on_redelivery_is_awaited_not_resent() -> None:
    raydium, meteora = two_venues(confirm_errors=[RuntimeError("crash")], auto_land=False)
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(RuntimeError):
        await rig.executor.handle(rig.job(order_id, 1))
    second = asyncio.create_task(rig.executor.handle(rig.job(order_id, 2)))
    async with asyncio.timeout(2):
        await raydium.confirm_waiting.wait()
    assert not second.done()
    raydium.land_all()
    await second
    assert (len(raydium.builds), raydium.submits) == (1, ["raydium-tx-1"])
    assert [s for s, _ in await rig.statuses(order_id)] == HAPPY
    assert len(raydium.executions()) == 1


async def test_an_ambiguous_send_on_the_last_attempt_does_not_report_failed() -> None:
    raydium, meteora = two_venues(sent_then_errors=[VenueUnavailableError("send timed out")])
    rig = Rig([raydium, meteora], max_attempts=1)
    order_id = await rig.new_order()
    await rig.run(order_id)
    assert len(raydium.executions()) == 1  # the swap executed...
    order = await rig.store.get(order_id)
    assert order.status is OrderStatus.CONFIRMED  # ...so the order must not say failed


@pytest.mark.parametrize("terminal", [OrderStatus.CANCELLED, OrderStatus.FAILED])
async def test_a_job_for_a_terminal_order_touches_no_venue(terminal: OrderStatus) -> None:
    raydium, meteora = two_venues()
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    order = await rig.store.get(order_id)
    await rig.store.append(order, order.apply(payload_for(terminal), ts_ms=rig.clock.now_ms()))
    await rig.executor.handle(rig.job(order_id, 1))
    await rig.executor.handle(rig.job("no-such-order", 1))
    assert raydium.quote_calls == meteora.quote_calls == 0
    assert [s for s, _ in await rig.statuses(order_id)] == ["pending", terminal.value]


class RoutingWriteFails(InMemoryOrderStore):
    """A store that goes away while an attempt's `routing` is written (after its route
    was chosen: the write takes a while)."""

    async def append(self, order: Order, event: OrderEvent) -> None:
        if event.status is OrderStatus.ROUTING:
            await asyncio.sleep(0.05)
            raise DependencyUnavailableError("the store went away")
        await super().append(order, event)


async def test_a_route_chosen_while_its_routing_write_fails_is_released() -> None:
    raydium, meteora = two_venues()
    rig = Rig([raydium, meteora], store=RoutingWriteFails())
    order_id = await rig.new_order()
    assert await rig.executor.handle(rig.job(order_id, 1)) is not None  # waits the outage
    assert [o for o, _ in raydium.expected] == [order_id]  # chosen, then the write failed
    assert raydium.released == [order_id] and raydium.builds == []


async def test_the_venue_of_a_chosen_route_is_told_before_it_builds_and_after_a_stop() -> None:
    raydium, meteora = two_venues(submit_errors=[VenueUnavailableError("raydium down")])
    rig = Rig([raydium, meteora])
    order_id = await rig.new_order()
    with pytest.raises(VenueUnavailableError):
        await rig.executor.handle(rig.job(order_id, 1))
    (chosen,) = raydium.expected
    assert chosen[0] == order_id and chosen[1] == raydium.builds[0].quote
    assert raydium.released == [order_id]
    assert meteora.expected == [] and meteora.released == []
    await rig.executor.handle(rig.job(order_id, 2))  # confirmed: nothing to release
    assert [o for o, _ in raydium.expected] == [order_id] * 2 and raydium.released == [order_id]
