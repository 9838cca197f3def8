"""What an operator reads: one line per finished, fired or expired order; expected
conditions as one line with the reason (no traceback); `LOG_FORMAT=json` gives one JSON
object per line; the worker check of `/ready`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal as D

import pytest

from order_engine.adapters.heartbeats import worker_problem
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.order_log import LoggingOrderStore
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import Order, OrderError, OrderStatus, OrderType
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy
from order_engine.logsetup import JsonFormatter, configure_logging
from tests.event_samples import payload_for

S = OrderStatus


def limit_order(order_id: str = "o-1") -> Order:
    return Order(
        id=order_id,
        token_in="SOL",
        token_out="USDC",
        amount_in=D("2"),
        slippage_bps=50,
        created_ms=1_000,
        type=OrderType.LIMIT,
        limit_price=D("150"),
        expires_ms=9_000,
    )


def order_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "order_engine.orders"]


async def test_a_failed_order_ends_with_one_line_naming_its_reason_attempts_and_latency(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="order_engine.orders")
    store = LoggingOrderStore(InMemoryOrderStore())
    order = Order("o-2", "SOL", "USDC", D("1.5"), 50, created_ms=1_000)
    await store.create(order, order.start())
    await store.append(order, order.apply(payload_for(S.ROUTING), ts_ms=1_100, attempt=3))
    error = OrderError("no_quotes", "no venue answered", attempt=3)
    await store.append(order, order.fail(error, ts_ms=1_350))
    (line,) = order_lines(caplog)
    assert line.levelno == logging.INFO and line.exc_info is None
    text = line.getMessage()
    assert "o-2" in text and "failed" in text and "no_quotes" in text and "350 ms" in text
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["orderId"] == "o-2" and fields["status"] == "failed"
    assert fields["attempts"] == 3 and fields["latencyMs"] == 350
    assert fields["amountIn"] == "1.5" and fields["error"] == "no_quotes"


async def test_a_waiting_order_logs_when_it_fires_and_when_it_expires(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="order_engine.orders")
    store = LoggingOrderStore(InMemoryOrderStore())
    fired, expired = limit_order("fires"), limit_order("expires")
    for order in (fired, expired):
        await store.create(order, order.start())
        await store.append(order, order.apply(payload_for(S.WAITING), ts_ms=1_010))
    assert order_lines(caplog) == []  # waiting is not news
    await store.append(fired, fired.apply(payload_for(S.ROUTING), ts_ms=4_000, attempt=1))
    await store.append(expired, expired.apply(payload_for(S.EXPIRED), ts_ms=9_000))
    by_order = {r.fields["orderId"]: r for r in order_lines(caplog)}  # type: ignore[attr-defined]
    assert by_order["fires"].fields["status"] == "fired"  # type: ignore[attr-defined]
    assert "fired" in by_order["fires"].getMessage()
    assert by_order["expires"].fields["status"] == "expired"  # type: ignore[attr-defined]
    assert by_order["expires"].fields["latencyMs"] == 8_000  # type: ignore[attr-defined]


async def test_an_expected_failure_is_one_line_and_a_bug_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = InMemoryJobQueue(RetryPolicy(2, 0.0), concurrency=1, rate_limit_max=0)
    done = asyncio.Event()

    async def handler(job: Job) -> float | None:
        if job.order_id == "outage":
            raise DependencyUnavailableError("database unavailable")
        if job.attempt == 2:
            done.set()
        raise RuntimeError("a bug")

    await queue.start(handler)
    await queue.enqueue("outage")
    await queue.enqueue("bug")
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.05)
    await queue.close(timeout_s=1)
    outage = [r for r in caplog.records if "outage" in r.getMessage()]
    bug = [r for r in caplog.records if "job bug" in r.getMessage()]
    assert outage and all(r.exc_info is None for r in outage)
    assert all("database unavailable" in r.getMessage() for r in outage)
    assert bug and all(r.exc_info is not None for r in bug)


def test_json_lines_carry_the_message_level_logger_and_fields() -> None:
    record = logging.LogRecord(
        "order_engine.orders", logging.INFO, __file__, 1, "a %s", ("b",), None
    )
    record.fields = {"orderId": "o-1", "latencyMs": 12}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert body["message"] == "a b" and body["level"] == "info"
    assert body["logger"] == "order_engine.orders"
    assert body["orderId"] == "o-1" and body["latencyMs"] == 12 and "ts" in body


def test_a_traceback_in_json_stays_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_configured_json_logging_writes_one_object_per_line() -> None:
    sink = io.StringIO()
    configure_logging("info", "json", stream=sink)
    logging.getLogger("order_engine.test").info("hello %s", "there")
    logging.getLogger("order_engine.test").debug("not shown")
    (line,) = sink.getvalue().splitlines()
    assert json.loads(line)["message"] == "hello there"


@pytest.mark.usefixtures("root_logging")
def test_configured_text_logging_keeps_the_readable_format() -> None:
    sink = io.StringIO()
    configure_logging("info", "text", stream=sink)
    logging.getLogger("order_engine.test").info("hello")
    assert sink.getvalue().rstrip().endswith(" INFO order_engine.test: hello")


def test_no_live_worker_with_queued_orders_is_not_ready() -> None:
    assert worker_problem(live=0, depth=3) is not None
    assert "no live worker" in (worker_problem(live=0, depth=3) or "")
    assert worker_problem(live=0, depth=0) is None  # nothing to do: nothing waits
    assert worker_problem(live=2, depth=3) is None
