"""The composition root: the one place that reads settings and picks adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.metrics import EngineMetrics, MetricsEventBus
from order_engine.adapters.sql.store import create_sql_store
from order_engine.api.app import HotPaths, create_app
from order_engine.api.context import ApiContext
from order_engine.domain.errors import EngineError
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.ports import EventBus, JobQueue, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.service import OrderService
from order_engine.settings import Settings
from order_engine.venues.simulated import SimulatedVenue, simulated_venues

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """Settings that cannot work; the CLI prints the message and exits."""


@dataclass
class Engine:
    settings: Settings
    store: OrderStore
    queue: JobQueue
    bus: EventBus
    venues: list[SimulatedVenue]
    service: OrderService
    executor: OrderExecutor
    metrics: EngineMetrics
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_workers(self) -> None:
        await self.queue.start(self.executor.handle)
        await self.service.recover()
        self._tasks.append(asyncio.create_task(self._recovery_loop()))

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.recovery_interval_s)
            try:
                await self.service.recover()
            except EngineError as exc:
                log.warning("recovery sweep failed: %s", exc.message)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queue.close(timeout_s=10.0)
        await self.bus.close()
        await self.store.close()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, dep in (("database", self.store), ("queue", self.queue), ("events", self.bus)):
            try:
                await dep.ping()
                checks[name] = "ok"
            except Exception as exc:  # readiness reports, it does not raise
                checks[name] = getattr(exc, "message", type(exc).__name__)
        return checks

    async def render_metrics(self) -> bytes:
        return await self.metrics.render(self.queue)

    def api_context(self) -> ApiContext:
        s = self.settings
        return ApiContext(
            service=self.service,
            public_base_url=s.resolved_public_base_url,
            max_body_bytes=s.max_body_bytes,
            readiness=self.readiness,
            metrics=self.render_metrics,
        )


def check_urls(settings: Settings) -> None:
    problem = settings.unsupported_reason()
    if problem is not None:
        raise ConfigurationError(problem)


async def build_engine(settings: Settings) -> Engine:
    """Pick adapters by URL scheme and wire the use cases (embedded: SQLite + in-process)."""
    check_urls(settings)
    clock = SystemClock()
    policy = RetryPolicy(settings.max_attempts, settings.backoff_base_s, settings.backoff_factor)
    metrics = EngineMetrics()
    store = await create_sql_store(settings.resolved_database_url)
    queue = InMemoryJobQueue(
        policy,
        concurrency=settings.worker_concurrency,
        rate_limit_max=settings.rate_limit_max,
        rate_limit_window_s=settings.rate_limit_window_s,
        max_depth=settings.queue_max_depth,
    )
    bus = MetricsEventBus(InMemoryEventBus(), metrics)
    venues = simulated_venues(
        seed=settings.rng_seed,
        latency_scale=settings.latency_scale,
        failure_rate=settings.failure_rate,
    )
    service = OrderService(
        store,
        queue,
        bus,
        venues,
        clock,
        max_queue_depth=settings.queue_max_depth,
        quote_timeout_s=settings.quote_timeout_s,
    )
    executor = OrderExecutor(
        store, bus, venues, clock, policy, quote_timeout_s=settings.quote_timeout_s
    )
    return Engine(settings, store, queue, bus, venues, service, executor, metrics)


def build_app(settings: Settings, *, workers: bool = True) -> HotPaths:
    """The app with its engine built at startup and stopped at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await build_engine(settings)
        app.state.engine = engine
        app.state.ctx = engine.api_context()
        if workers:
            await engine.start_workers()
        try:
            yield
        finally:
            await engine.stop()

    return create_app(lifespan)
