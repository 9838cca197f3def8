"""Execution policy over real HTTP and WebSocket: rate limit, concurrency, retries,
idempotency, cancellation and queue depth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from order_engine.engine.ports import Job
from tests.e2e.harness import (
    RunningEngine,
    assert_error,
    assert_lifecycle,
    running_engine,
    statuses,
    stored_orders,
)

GOOD: dict[str, Any] = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
CLOCK_SLACK_MS = 50  # a job's routing event comes a few ms after the limiter let it start
HOLD = {"rate_limit_max": 1, "rate_limit_window_s": 60}  # the first order takes the only start


def ts_of(events: list[dict[str, Any]], status: str) -> int:
    (ts,) = [e["tsMs"] for e in events if e["status"] == status]
    assert isinstance(ts, int)
    return ts


async def executions(eng: RunningEngine, order_id: str) -> int:
    return len(await eng.engine.executions(order_id))


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """Most half-open [start, end) intervals that hold at one instant."""
    edges = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    running = peak = 0
    for _, step in edges:  # at equal times an end (-1) sorts before a start (+1)
        running += step
        peak = max(peak, running)
    return peak


async def starts_of(eng: RunningEngine, ids: list[str]) -> list[int]:
    """Each order's start (its `routing` tsMs), ascending, once all of them confirmed."""
    streams = await asyncio.gather(*(eng.stream(i) for i in ids))
    for order_id, events in zip(ids, streams, strict=True):
        assert_lifecycle(events, order_id, "confirmed")
    return sorted(ts_of(events, "routing") for events in streams)


def spans_of_four(starts: list[int]) -> list[int]:
    return [starts[i] - starts[i - 3] for i in range(3, len(starts))]


async def test_rate_limit_spaces_every_fourth_start_by_the_window(tmp_path: Path) -> None:
    """Nine orders wait in the store (a first run's limiter held them); the next run
    recovers all nine onto its queue at once, so only its limiter decides when they start."""
    async with running_engine(tmp_path, **HOLD) as eng:
        first, *ids = [await eng.order_id() for _ in range(10)]
        assert_lifecycle(await eng.stream(first), first, "confirmed")
    window_s = 0.3
    async with running_engine(tmp_path, rate_limit_max=3, rate_limit_window_s=window_s) as eng:
        starts = await starts_of(eng, ids)
    spans = spans_of_four(starts)
    assert min(spans) >= window_s * 1000 - CLOCK_SLACK_MS, (starts, spans)
    assert starts[-1] - starts[0] < 2_000, starts  # limited, not stalled


async def test_rate_limit_holds_over_any_window_not_only_fixed_ones(tmp_path: Path) -> None:
    window_s = 1.0
    async with running_engine(tmp_path, rate_limit_max=3, rate_limit_window_s=window_s) as eng:
        first = await eng.order_id()  # opens a window at t0
        (t0,) = await starts_of(eng, [first])
        await asyncio.sleep(max(0.0, (t0 + 500 - time.time() * 1000) / 1000))
        late = list(await asyncio.gather(*(eng.order_id() for _ in range(2))))  # t0 + 0.5 s
        early = list(await asyncio.gather(*(eng.order_id() for _ in range(3))))  # t0 + 1 s
        starts = [t0, *await starts_of(eng, late + early)]
    spans = spans_of_four(starts)
    assert min(spans) >= window_s * 1000 - CLOCK_SLACK_MS, (starts, spans)


async def test_at_most_worker_concurrency_orders_execute_at_once(tmp_path: Path) -> None:
    async with running_engine(tmp_path, worker_concurrency=3, latency_scale=0.02) as eng:
        ids = await asyncio.gather(*(eng.order_id() for _ in range(15)))
        streams = await asyncio.gather(*(eng.stream(i) for i in ids))
    for order_id, events in zip(ids, streams, strict=True):
        assert_lifecycle(events, order_id, "confirmed")
    intervals = [(ts_of(events, "routing"), events[-1]["tsMs"]) for events in streams]
    assert max_overlap(intervals) == 3, sorted(intervals)


def assert_attempts(events: list[dict[str, Any]], order: dict[str, Any]) -> None:
    """Attempts never go back; the terminal event carries the attempt that settled it."""
    attempts = [e["attempt"] for e in events]
    assert attempts[0] == 0 and all(1 <= a <= 3 for a in attempts[1:]), attempts
    assert attempts == sorted(attempts), attempts
    assert order["attempt"] == attempts[-1]


async def test_injected_failures_retry_and_never_execute_twice(tmp_path: Path) -> None:
    async with running_engine(tmp_path, failure_rate=0.5) as eng:
        ids = await asyncio.gather(*(eng.order_id() for _ in range(30)))
        streams = await asyncio.gather(*(eng.stream(i) for i in ids))
        orders = [(await eng.client.get(f"/api/orders/{i}")).json() for i in ids]
        swaps = [await executions(eng, i) for i in ids]
    retried = 0
    for order_id, events, order, swapped in zip(ids, streams, orders, swaps, strict=True):
        final = events[-1]
        assert final["status"] in {"confirmed", "failed"}
        assert_lifecycle(events, order_id, final["status"])
        assert_attempts(events, order)
        assert order["status"] == final["status"]
        if final["status"] == "failed":
            assert final["attempt"] == 3 and final["error"]["code"], final
            assert order["error"] == final["error"]
            assert [a["attempt"] for a in order["attempts"]] == [1, 2, 3], order
            assert all(a["code"] and a["message"] for a in order["attempts"])
            assert swapped == 0
        else:
            assert swapped == 1, (order_id, swapped)
            assert [a["attempt"] for a in order["attempts"]] == list(range(1, final["attempt"]))
            assert order["error"] is None
            retried += final["attempt"] > 1
    assert retried >= 1, "with failure_rate=0.5 some order must have needed a retry"


async def test_venue_always_down_fails_with_every_attempt_recorded(tmp_path: Path) -> None:
    async with running_engine(tmp_path, failure_rate=1) as eng:
        order_id = await eng.order_id()
        events = await eng.stream(order_id)
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        assert await executions(eng, order_id) == 0
    assert_lifecycle(events, order_id, "failed")
    failed = events[-1]
    assert failed["error"]["code"] == "venue_unavailable"
    assert "3 attempts" in failed["error"]["message"]
    assert [a["attempt"] for a in failed["attempts"]] == [1, 2, 3]
    assert order["status"] == "failed"
    assert order["error"] == failed["error"]
    assert [(a["attempt"], a["code"]) for a in order["attempts"]] == [
        (n, "venue_unavailable") for n in (1, 2, 3)
    ]
    assert all("unavailable" in a["message"] for a in order["attempts"])


async def test_idempotency_key_replays_the_same_order(tmp_path: Path) -> None:
    key = {"Idempotency-Key": "order-42"}
    async with running_engine(tmp_path) as eng:
        first = await eng.submit(GOOD, **key)
        assert first.status_code == 201, first.text
        order_id = first.json()["orderId"]
        assert "idempotent-replayed" not in first.headers
        same = {"tokenIn": "sol", "tokenOut": "usdc", "amount": "1.50"}  # the same request
        for body in (GOOD, same):
            replay = await eng.submit(body, **key)
            assert replay.status_code == 200, replay.text
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json()["orderId"] == order_id
            assert replay.headers["location"] == f"/api/orders/{order_id}"
        other = await eng.submit({**GOOD, "amountIn": "2"}, **key)
        assert_error(other, 409, code="idempotency_conflict", field="Idempotency-Key")
        assert_lifecycle(await eng.stream(order_id), order_id, "confirmed")
        assert [o["orderId"] for o in await stored_orders(eng)] == [order_id]
        assert await executions(eng, order_id) == 1


async def test_concurrent_submits_with_one_key_make_one_order(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        answers = await asyncio.gather(
            *(eng.submit(GOOD, **{"Idempotency-Key": "burst"}) for _ in range(10))
        )
        assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
        (order_id,) = {a.json()["orderId"] for a in answers}
        assert_lifecycle(await eng.stream(order_id), order_id, "confirmed")
        assert [o["orderId"] for o in await stored_orders(eng)] == [order_id]
        assert await executions(eng, order_id) == 1


async def sse_events(eng: RunningEngine, order_id: str) -> list[str]:
    headers = {"Accept": "text/event-stream"}
    async with eng.client.stream("GET", f"/api/orders/{order_id}/events", headers=headers) as r:
        body = (await r.aread()).decode()
    return [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event:")]


async def test_cancel_a_pending_order(tmp_path: Path) -> None:
    async with running_engine(tmp_path, **HOLD) as eng:
        first, second = await eng.order_id(), await eng.order_id()
        assert_lifecycle(await eng.stream(first), first, "confirmed")
        live_ws = asyncio.create_task(eng.stream(second))
        live_sse = asyncio.create_task(sse_events(eng, second))
        await asyncio.sleep(0.05)  # let both subscribe while the order is pending
        assert not live_ws.done() and not live_sse.done()
        response = await eng.client.post(f"/api/orders/{second}/cancel", json={})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        events = await asyncio.wait_for(live_ws, 5)
        assert statuses(events) == ["pending", "cancelled"]
        assert_lifecycle(events, second, "cancelled")
        assert await asyncio.wait_for(live_sse, 5) == ["pending", "cancelled"]
        for order_id in (second, first):
            again = await eng.client.post(f"/api/orders/{order_id}/cancel", json={})
            assert_error(again, 409, code="not_cancellable")
        await eng.engine.executor.handle(Job(second, 1, 3))  # the queued job comes due later
        assert await executions(eng, second) == 0
        assert await eng.stream(second) == events
        assert (await eng.client.get(f"/api/orders/{second}")).json()["status"] == "cancelled"


async def test_full_queue_answers_429_and_stores_nothing(tmp_path: Path) -> None:
    async with running_engine(tmp_path, queue_max_depth=2, **HOLD) as eng:
        first = await eng.order_id()
        assert_lifecycle(await eng.stream(first), first, "confirmed")  # the queue is empty again
        held = [await eng.order_id() for _ in range(2)]  # both wait for the next window
        for _ in range(2):
            response = await eng.submit(GOOD)
            assert_error(response, 429, code="queue_full")
            assert int(response.headers["retry-after"]) >= 1
        stored = {o["orderId"] for o in await stored_orders(eng)}
        assert stored == {first, *held}


async def burst_on_a_full_queue(tmp_path: Path) -> tuple[list[int], set[str], set[str]]:
    """12 concurrent submits against a queue of depth 3 whose limiter holds every job:
    the status codes, the accepted order ids and the stored ones (the first order aside)."""
    async with running_engine(tmp_path, queue_max_depth=3, **HOLD) as eng:
        first = await eng.order_id()
        assert_lifecycle(await eng.stream(first), first, "confirmed")
        answers = await asyncio.gather(*(eng.submit(GOOD) for _ in range(12)))
        for answer in answers:
            if answer.status_code != 201:
                assert_error(answer, 429, code="queue_full")
        accepted = {a.json()["orderId"] for a in answers if a.status_code == 201}
        stored = {o["orderId"] for o in await stored_orders(eng)} - {first}
    return sorted(a.status_code for a in answers), accepted, stored


async def test_concurrent_submits_store_exactly_the_accepted_orders(tmp_path: Path) -> None:
    codes, accepted, stored = await burst_on_a_full_queue(tmp_path)
    assert stored == accepted, "a 429 answer must leave no order behind"
    assert 429 in codes


async def test_concurrent_submits_never_overfill_the_queue(tmp_path: Path) -> None:
    codes, _, _ = await burst_on_a_full_queue(tmp_path)
    assert codes == [201] * 3 + [429] * 9, codes
