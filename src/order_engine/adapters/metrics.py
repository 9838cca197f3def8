"""Prometheus metrics, fed by decorating the event bus (so the engine stays unaware)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.engine import Engine

from order_engine.adapters.sql.direct import DirectStatementCount
from order_engine.domain.orders import OrderEvent, OrderStatus
from order_engine.engine.ports import EventBus, FeedSubscription, JobQueue, LiveEvents


class EngineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "order_events",
            "Lifecycle events published, by status",
            ["status"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "order_retries", "Attempts after the first, started by a retry", registry=self.registry
        )
        self.queue_depth = Gauge(
            "order_queue_depth", "Jobs waiting, delayed or active", registry=self.registry
        )
        self.workers_live = Gauge(
            "order_workers_live",
            "Worker processes with a live heartbeat (this process's own without Redis)",
            registry=self.registry,
        )
        self.by_status = {status: self.events.labels(status.value) for status in OrderStatus}
        self.registry.register(SqlStatementCount())

    async def render(self, queue: JobQueue, workers_live: int | None = None) -> bytes:
        """The metrics; the gauges read now (`workers_live` None: unknown, left as it was)."""
        self.queue_depth.set(await queue.depth())
        if workers_live is not None:
            self.workers_live.set(workers_live)
        return generate_latest(self.registry)


class SqlStatementCount(Collector):
    """`db_statements_total`: SQL statements this process sent to its databases (an
    executemany counts once), counted by one process-wide SQLAlchemy listener, plus those
    sent straight on asyncpg (`DirectStatementCount`). Benchmarks
    divide it by the orders to get statements (round trips, on a server) per order."""

    count = 0

    def __init__(self) -> None:
        if not event.contains(Engine, "before_cursor_execute", _count_statement):
            event.listen(Engine, "before_cursor_execute", _count_statement)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "db_statements",
            "SQL statements sent by this process",
            value=SqlStatementCount.count + DirectStatementCount.count,
        )


def _count_statement(*_args: object) -> None:
    SqlStatementCount.count += 1


class MetricsEventBus:
    """An `EventBus` that counts every event it publishes, then forwards it."""

    def __init__(self, inner: EventBus, metrics: EngineMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def publish(self, event: OrderEvent) -> None:
        self._metrics.by_status[event.status].inc()
        if event.attempt > 1 and event.is_terminal:
            self._metrics.attempts.inc(event.attempt - 1)
        await self._inner.publish(event)

    def subscribe(self, order_id: str, after: int = 0) -> AbstractAsyncContextManager[LiveEvents]:
        return self._inner.subscribe(order_id, after)

    def subscribe_all(
        self, after: str | None = None
    ) -> AbstractAsyncContextManager[FeedSubscription]:
        return self._inner.subscribe_all(after)

    async def ping(self) -> None:
        await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()
