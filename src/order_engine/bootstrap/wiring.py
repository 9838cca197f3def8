"""Building the engine from settings, and the entry points the CLI runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.metrics import EngineMetrics
from order_engine.adapters.metrics_http import serve_metrics
from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.sql import create_engine
from order_engine.adapters.sql.schema import create_database_if_missing, migrate, printable_url
from order_engine.api.app import HotPaths, create_app
from order_engine.bootstrap.engine import Engine
from order_engine.bootstrap.factories import (
    Adapters,
    check_urls,
    make_adapters,
    make_wallet_vault,
)
from order_engine.bootstrap.heap import freeze_startup_heap
from order_engine.bootstrap.rpc_venues import token_registry
from order_engine.bootstrap.venues import VenueSet, make_venue_set
from order_engine.bootstrap.wallets import check_wallets_open, with_master_key
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.account_limits import AccountLimiter
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.outages import OutageWaits
from order_engine.engine.paths import Router, TwoHopPolicy
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.routing import SplitPolicy
from order_engine.engine.service import OrderService
from order_engine.engine.usd_prices import UsdPrices
from order_engine.engine.waiting_orders import WaitingOrders
from order_engine.engine.wallets import AccountKeypairs
from order_engine.logsetup import configure_logging
from order_engine.settings import Settings

log = logging.getLogger(__name__)


async def build_engine(
    settings: Settings, *, command: str = "serve", auto_migrate: bool = True
) -> Engine:
    """Pick adapters by URL scheme and wire the use cases: SQLite or PostgreSQL for the
    store; BullMQ, Redis Streams and Redis launches when `REDIS_URL` is set, else
    in-process. Every process applies every token launch (its venues open the pools).
    The engine has its own token registry, shared by its venues and use cases. Chain
    venues sign each account's orders with its wallet (sealed under the master key:
    `serve` makes one in the data directory when `WALLET_MASTER_KEY` is unset)."""
    check_urls(settings, command)
    tokens = token_registry(settings)
    policy = RetryPolicy(settings.max_attempts, settings.backoff_base_s, settings.backoff_factor)
    metrics = EngineMetrics()
    adapters = await make_adapters(settings, policy, metrics, auto_migrate=auto_migrate)
    try:
        settings = with_master_key(settings, command)  # once the database answered
        vault = make_wallet_vault(settings)
        await check_wallets_open(adapters.accounts, vault)
        keypairs = AccountKeypairs(adapters.accounts, vault)
        venue_set = await make_venue_set(
            settings, command, adapters.chain, tokens, keypairs, adapters.in_flight
        )
    except BaseException:
        await adapters.close()
        raise
    engine = _wire(settings, adapters, venue_set, tokens, policy, metrics)
    try:
        await engine.check_reachable()
        await engine.launches.start()
    except BaseException:
        await engine.stop()
        raise
    return engine


def _wire(
    settings: Settings,
    a: Adapters,
    vs: VenueSet,
    tokens: TokenRegistry,
    policy: RetryPolicy,
    metrics: EngineMetrics,
) -> Engine:
    s, clock, venues = settings, SystemClock(), vs.venues
    split = SplitPolicy(s.split_orders, s.split_min_gain_bps, s.split_min_leg_fraction)
    two_hops = TwoHopPolicy(s.two_hop_routing, s.two_hop_min_gain_bps)
    timeout = s.quote_timeout_s
    service = OrderService(
        a.store,
        a.queue,
        a.bus,
        venues,
        clock,
        tokens=tokens,
        max_queue_depth=s.queue_max_depth,
        quote_timeout_s=timeout,
        split_policy=split,
        two_hop_policy=two_hops,
        max_time_in_force_s=s.limit_max_time_in_force_s,
        max_price_impact_cap_bps=s.max_price_impact_cap_bps,
        stream_idle_check_s=s.stream_check_interval_s,
        account_limits=_account_limiter(s, a, Router(venues, tokens, timeout, split, two_hops)),
    )
    waiting = WaitingOrders(
        a.store,
        a.queue,
        a.watch_queue,
        a.bus,
        venues,
        clock,
        tokens=tokens,
        check_interval_s=s.limit_check_interval_s,
        quote_timeout_s=timeout,
        split_policy=split,
        two_hop_policy=two_hops,
    )
    executor = OrderExecutor(
        a.store,
        a.bus,
        venues,
        clock,
        policy,
        tokens=tokens,
        quote_timeout_s=timeout,
        split_policy=split,
        two_hop_policy=two_hops,
        waiting_orders=waiting,
        max_price_impact_bps=s.max_price_impact_bps,
        outages=OutageWaits(max_wait_s=s.outage_max_wait_s, base_s=s.backoff_base_s),
        funds=vs.wallets,
    )
    launches = TokenLaunches(
        a.board,
        waiting,
        clock,
        tokens=tokens,
        venues=[v.name for v in venues],
        open_pools=vs.open_pools,
        new_mint=vs.new_mint,
        prepare=vs.prepare,
    )
    return Engine(settings, a, vs, service, executor, waiting, launches, metrics, tokens)


def _account_limiter(settings: Settings, a: Adapters, router: Router) -> AccountLimiter:
    """Per-account limits: the settings' defaults under each account's overrides; orders
    valued at prices read from the venues' pools (`UsdPrices`)."""
    prices = UsdPrices(router)
    return AccountLimiter(
        a.store, a.rates, SystemClock(), defaults=settings.account_limits, prices=prices
    )


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
    """Create `DATABASE_URL`'s database if the server has none of that name, then apply
    every migration; returns where (password hidden)."""
    check_urls(settings, "migrate")
    engine = create_engine(settings.resolved_database_url)
    try:
        created = await create_database_if_missing(engine)
        await migrate(engine)
    finally:
        await engine.dispose()
    return printable_url(engine.url) + (" (created now)" if created else "")


async def run_worker(settings: Settings, *, freeze_heap: bool = False) -> None:
    """`order-engine worker`: execute jobs until SIGTERM/SIGINT, then stop taking jobs,
    let the ones in flight finish (up to `SHUTDOWN_TIMEOUT_S`) and exit. `freeze_heap`:
    see `heap.py` (the command line's process)."""
    engine = await build_engine(settings, command="worker", auto_migrate=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics: asyncio.Server | None = None
    try:
        await engine.start_workers()
        if settings.worker_metrics_port is not None:
            port = settings.worker_metrics_port
            metrics = await serve_metrics(engine.render_metrics, settings.host, port)
            log.info("worker metrics at http://%s:%d/metrics", settings.host, port)
        log.info("worker started (concurrency %d)", settings.worker_concurrency)
        if freeze_heap:
            freeze_startup_heap()
        await stop.wait()
        log.info("worker stopping: finishing the jobs in flight")
    finally:
        if metrics is not None:
            metrics.close()
        await engine.stop()


def api_app_from_env() -> HotPaths:
    """Factory for `order-engine api --workers N` (each process reads the environment and
    sets up its own logging)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return build_app(settings, workers=False, command="api", freeze_heap=True)


def build_app(
    settings: Settings, *, workers: bool = True, command: str = "serve", freeze_heap: bool = False
) -> HotPaths:
    """The app with its engine built at startup and stopped at shutdown. `freeze_heap`:
    see `heap.py` (the command line's process)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await build_engine(settings, command=command, auto_migrate=command == "serve")
        app.state.engine = engine
        try:
            app.state.ctx = await engine.api_context(command)
        except BaseException:
            await engine.stop()
            raise
        if workers:
            await engine.start_workers()
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            await engine.stop()

    return create_app(lifespan, cors_origins=settings.cors_origin_list)
