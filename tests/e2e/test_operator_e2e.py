"""An engine an operator can read, against the running app: one access line per request
(the hot paths too, no query string), one line per finished order, and `/ready` and
`/metrics` with the live workers and the queue depth."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.e2e.harness import running_engine

pytestmark = pytest.mark.e2e


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "order_engine.access"]


async def test_every_request_has_one_access_line_hot_paths_included(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="order_engine.access")
    async with running_engine(tmp_path) as eng:
        assert (await eng.client.get("/health?token=s3cret")).status_code == 200
        order_id = await eng.order_id()
        await eng.stream(order_id)
        assert (await eng.client.get("/api/orders/nope")).status_code == 422
        refusal = await eng.client.post(
            "/api/orders/execute", content=b"{", headers={"content-type": "application/json"}
        )
        assert refusal.status_code == 400, refusal.text
    lines = access_lines(caplog)
    assert len(lines) == 5, lines
    health, submitted, streamed, missing, refused = lines
    assert health.startswith("GET /health 200 ") and health.endswith(" ms")
    assert submitted.startswith("POST /api/orders/execute 201 ")
    assert streamed.startswith("WS /api/orders/execute 1000 ")
    assert missing.startswith("GET /api/orders/nope 4")
    assert refused.startswith("POST /api/orders/execute 400 ")
    assert not any("s3cret" in line or order_id in line for line in lines)
    record = next(r for r in caplog.records if r.name == "order_engine.access")
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET" and fields["path"] == "/health"
    assert fields["status"] == 200 and fields["durationMs"] >= 0


async def test_access_lines_cost_nothing_when_the_level_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="order_engine.access")
    async with running_engine(tmp_path) as eng:
        assert (await eng.client.get("/health")).status_code == 200
    assert access_lines(caplog) == []


async def test_a_finished_order_has_one_line_with_venue_amounts_attempts_and_latency(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="order_engine.orders")
    async with running_engine(tmp_path) as eng:
        order_id = await eng.order_id()
        events = await eng.stream(order_id)
    assert events[-1]["status"] == "confirmed"
    (line,) = [r for r in caplog.records if r.name == "order_engine.orders"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["orderId"] == order_id and fields["status"] == "confirmed"
    assert fields["venue"] == events[-1]["dex"] and fields["amountOut"] == events[-1]["amountOut"]
    assert fields["amountIn"] == "1.5" and fields["tokenIn"] == "SOL"
    assert fields["attempts"] == 1 and fields["latencyMs"] >= 0
    assert order_id in line.getMessage() and "confirmed" in line.getMessage()


async def test_ready_and_metrics_show_the_process_workers_and_queue_depth(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        ready = await eng.client.get("/ready")
        metrics = (await eng.client.get("/metrics")).text
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["checks"]["workers"] == "ok"
    assert body["workers"] == 1 and body["queueDepth"] == 0
    assert "\norder_workers_live 1.0\n" in metrics
    assert "\norder_queue_depth 0.0\n" in metrics
