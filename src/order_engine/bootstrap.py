"""The composition root: the one place that reads settings and picks adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import FastAPI
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from order_engine.adapters.bullmq_queue import BullMqJobQueue
from order_engine.adapters.clock import SystemClock
from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.metrics import EngineMetrics, MetricsEventBus
from order_engine.adapters.redis_bus import RedisEventBus
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_ledger import RedisSwapLedger
from order_engine.adapters.sql import create_engine, create_sql_store
from order_engine.adapters.sql.schema import UnmigratedDatabaseError, migrate, printable_url
from order_engine.api.app import HotPaths, create_app
from order_engine.api.context import ApiContext
from order_engine.domain.errors import DependencyUnavailableError, EngineError
from order_engine.domain.orders import Execution
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.ports import EventBus, JobQueue, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.routing import SplitPolicy
from order_engine.engine.service import OrderService
from order_engine.settings import Settings
from order_engine.venues.ledger import InMemorySwapLedger, SwapLedger
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
    chain: SwapLedger
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

    async def check_reachable(self) -> None:
        """Raise `DependencyUnavailableError` naming the first dependency that is down."""
        for name, dep in (
            ("database", self.store),
            ("Redis queue", self.queue),
            ("event bus", self.bus),
        ):
            try:
                await dep.ping()
            except DependencyUnavailableError as exc:
                raise DependencyUnavailableError(f"{name} unreachable: {exc.message}") from exc

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queue.close(timeout_s=self.settings.shutdown_timeout_s)
        await self.bus.close()
        await self.chain.close()
        await self.store.close()

    async def executions(self, order_id: str) -> list[Execution]:
        """Every swap that landed on the (simulated) chain for `order_id`."""
        return [e.execution for e in await self.chain.entries(order_id) if e.execution]

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


def check_urls(settings: Settings, command: str = "serve") -> None:
    problem = settings.problem_for(command)
    if problem is not None:
        raise ConfigurationError(problem)


async def _make_store(settings: Settings, auto_migrate: bool) -> OrderStore:
    """SQLite migrates itself (embedded); PostgreSQL is migrated by `order-engine migrate`
    unless `auto_migrate`, and a process refuses a database that is not at the head."""
    url = settings.resolved_database_url
    embedded = url.startswith("sqlite")
    try:
        return await create_sql_store(
            url, migrate=embedded or auto_migrate, require_migrated=not embedded
        )
    except UnmigratedDatabaseError as exc:
        raise ConfigurationError(str(exc)) from exc


def _make_queue(settings: Settings, policy: RetryPolicy) -> JobQueue:
    s = settings
    if s.redis_url:
        return BullMqJobQueue(
            s.redis_url,
            policy,
            prefix=s.redis_prefix,
            concurrency=s.worker_concurrency,
            rate_limit_max=s.rate_limit_max,
            rate_limit_window_s=s.rate_limit_window_s,
            max_depth=s.queue_max_depth,
            lock_duration_ms=round(s.job_lock_s * 1000),
            stalled_interval_ms=round(s.job_lock_s * 1000),
        )
    return InMemoryJobQueue(
        policy,
        concurrency=s.worker_concurrency,
        rate_limit_max=s.rate_limit_max,
        rate_limit_window_s=s.rate_limit_window_s,
        max_depth=s.queue_max_depth,
    )


def _make_chain(settings: Settings) -> SwapLedger:
    """The simulated chain is shared by every process of a deployment, as a real one is,
    and lives outside the engine's own Redis when `SIM_CHAIN_URL` says where."""
    url = settings.sim_chain_url or settings.redis_url
    if url:
        return RedisSwapLedger(url, prefix=settings.redis_prefix)
    return InMemorySwapLedger()


def _make_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisEventBus(settings.redis_url, prefix=settings.redis_prefix)
    return InMemoryEventBus()


async def build_engine(
    settings: Settings, *, command: str = "serve", auto_migrate: bool = True
) -> Engine:
    """Pick adapters by URL scheme and wire the use cases: SQLite or PostgreSQL for the
    store; BullMQ and Redis Streams when `REDIS_URL` is set, else in-process."""
    check_urls(settings, command)
    clock = SystemClock()
    policy = RetryPolicy(settings.max_attempts, settings.backoff_base_s, settings.backoff_factor)
    metrics = EngineMetrics()
    store = await _make_store(settings, auto_migrate)
    queue = _make_queue(settings, policy)
    bus = MetricsEventBus(_make_bus(settings), metrics)
    chain = _make_chain(settings)
    venues = simulated_venues(
        seed=settings.rng_seed,
        latency_scale=settings.latency_scale,
        failure_rate=settings.failure_rate,
        ledger=chain,
    )
    split = SplitPolicy(
        settings.split_orders, settings.split_min_gain_bps, settings.split_min_leg_fraction
    )
    service = OrderService(
        store,
        queue,
        bus,
        venues,
        clock,
        max_queue_depth=settings.queue_max_depth,
        quote_timeout_s=settings.quote_timeout_s,
        split_policy=split,
    )
    executor = OrderExecutor(
        store,
        bus,
        venues,
        clock,
        policy,
        quote_timeout_s=settings.quote_timeout_s,
        split_policy=split,
    )
    engine = Engine(settings, store, queue, bus, venues, chain, service, executor, metrics)
    try:
        await engine.check_reachable()
    except BaseException:
        await engine.stop()
        raise
    return engine


async def preflight(settings: Settings, command: str) -> None:
    """Build and stop an engine: fails fast, with a clear error naming the setting, on bad
    or unreachable URLs or an unmigrated database, before a server or worker starts.
    Redis is checked first, so that nothing is created on disk when it is down."""
    check_urls(settings, command)
    if settings.redis_url:
        client = redis_client(settings.redis_url)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError(
                f"cannot reach Redis at REDIS_URL={settings.redis_url}"
            ) from exc
        finally:
            await client.aclose()
    try:
        engine = await build_engine(settings, command=command, auto_migrate=command == "serve")
    except DependencyUnavailableError as exc:
        where = printable_url(make_url(settings.resolved_database_url))
        raise DependencyUnavailableError(
            f"cannot reach the database at DATABASE_URL={where} ({exc.message})"
        ) from exc
    await engine.stop()


async def migrate_database(settings: Settings) -> str:
    """Apply every migration to `DATABASE_URL`; returns where (password hidden)."""
    check_urls(settings, "migrate")
    engine = create_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    return printable_url(engine.url)


async def run_worker(settings: Settings) -> None:
    """`order-engine worker`: execute jobs until SIGTERM/SIGINT, then stop taking jobs,
    let the ones in flight finish (up to `SHUTDOWN_TIMEOUT_S`) and exit."""
    engine = await build_engine(settings, command="worker", auto_migrate=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await engine.start_workers()
        log.info("worker started (concurrency %d)", settings.worker_concurrency)
        await stop.wait()
        log.info("worker stopping: finishing the jobs in flight")
    finally:
        await engine.stop()


def api_app_from_env() -> HotPaths:
    """Factory for `order-engine api --workers N` (each process reads the environment)."""
    return build_app(Settings(), workers=False, command="api")


def build_app(settings: Settings, *, workers: bool = True, command: str = "serve") -> HotPaths:
    """The app with its engine built at startup and stopped at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await build_engine(settings, command=command, auto_migrate=command == "serve")
        app.state.engine = engine
        app.state.ctx = engine.api_context()
        if workers:
            await engine.start_workers()
        try:
            yield
        finally:
            await engine.stop()

    return create_app(lifespan)
