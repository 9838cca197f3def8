"""Adapters by settings: SQLite or PostgreSQL, in-process or Redis (BullMQ, Streams)."""

from __future__ import annotations

from dataclasses import dataclass

from order_engine.adapters.bullmq_queue import BullMqJobQueue
from order_engine.adapters.heartbeats import LocalWorkers, RedisWorkerHeartbeats, WorkerHeartbeats
from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_launches import InMemoryLaunchBoard
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.metrics import EngineMetrics, MetricsEventBus
from order_engine.adapters.order_log import LoggingOrderStore
from order_engine.adapters.rate_windows import InMemoryRateWindow, RedisRateWindow
from order_engine.adapters.redis_bus import RedisEventBus
from order_engine.adapters.redis_inflight import RedisInFlightBoard
from order_engine.adapters.redis_launches import RedisLaunchBoard
from order_engine.adapters.redis_ledger import RedisSwapLedger
from order_engine.adapters.sql import create_sql_account_store, create_sql_store
from order_engine.adapters.sql.schema import UnmigratedDatabaseError
from order_engine.adapters.wallet_vault import AesGcmWalletVault
from order_engine.engine.account_ports import AccountStore, RateWindow, WalletVault
from order_engine.engine.ports import EventBus, JobQueue, LaunchBoard, OrderStore
from order_engine.engine.retry import RetryPolicy
from order_engine.settings import Settings
from order_engine.venues.chain.inflight_board import InFlightBoard, LocalInFlightBoard
from order_engine.venues.sim.ledger import InMemorySwapLedger, SwapLedger

WATCH_CONCURRENCY = 4
WATCH_MAX_DEPTH = 100_000


class ConfigurationError(Exception):
    """Settings that cannot work; the CLI prints the message and exits."""


def check_urls(settings: Settings, command: str = "serve") -> None:
    problem = settings.problem_for(command)
    if problem is not None:
        raise ConfigurationError(problem)


async def make_store(settings: Settings, auto_migrate: bool) -> OrderStore:
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


async def make_account_store(settings: Settings, auto_migrate: bool) -> AccountStore:
    """Accounts in the order store's database, migrated as `make_store` migrates it."""
    url = settings.resolved_database_url
    embedded = url.startswith("sqlite")
    try:
        return await create_sql_account_store(
            url, migrate=embedded or auto_migrate, require_migrated=not embedded
        )
    except UnmigratedDatabaseError as exc:
        raise ConfigurationError(str(exc)) from exc


def make_wallet_vault(settings: Settings) -> WalletVault | None:
    """The vault sealing accounts' wallets under `WALLET_MASTER_KEY`; None when unset."""
    try:
        key = settings.wallet_master_key_bytes
    except ValueError as exc:
        raise ConfigurationError(f"WALLET_MASTER_KEY {exc}") from None
    return None if key is None else AesGcmWalletVault(key)


def make_watch_queue(settings: Settings, policy: RetryPolicy) -> JobQueue:
    """Waiting orders' per-pair watch jobs: their own queue, so re-checks never spend the
    order queue's rate limit."""
    return _job_queue(
        settings,
        policy,
        name="watch",
        concurrency=WATCH_CONCURRENCY,
        rate_limit_max=0,
        rate_limit_window_s=settings.rate_limit_window_s,
        max_depth=WATCH_MAX_DEPTH,
    )


def make_queue(settings: Settings, policy: RetryPolicy) -> JobQueue:
    s = settings
    return _job_queue(
        s,
        policy,
        name="orders",
        concurrency=s.worker_concurrency,
        rate_limit_max=s.rate_limit_max,
        rate_limit_window_s=s.rate_limit_window_s,
        max_depth=s.queue_max_depth,
    )


def _job_queue(
    settings: Settings,
    policy: RetryPolicy,
    *,
    name: str,
    concurrency: int,
    rate_limit_max: int,
    rate_limit_window_s: float,
    max_depth: int,
) -> JobQueue:
    """BullMQ in Redis when `REDIS_URL` is set, else in-process."""
    if settings.redis_url:
        lock_ms = round(settings.job_lock_s * 1000)
        return BullMqJobQueue(
            settings.redis_url,
            policy,
            name=name,
            prefix=settings.redis_prefix,
            concurrency=concurrency,
            rate_limit_max=rate_limit_max,
            rate_limit_window_s=rate_limit_window_s,
            max_depth=max_depth,
            lock_duration_ms=lock_ms,
            stalled_interval_ms=max(500, lock_ms // 2),  # a dead worker's job: ~1.5 locks
        )
    return InMemoryJobQueue(
        policy,
        concurrency=concurrency,
        rate_limit_max=rate_limit_max,
        rate_limit_window_s=rate_limit_window_s,
        max_depth=max_depth,
    )


def make_chain(settings: Settings) -> SwapLedger:
    """The simulated chain is shared by every process of a deployment, as a real one is,
    and lives outside the engine's own Redis when `SIM_CHAIN_URL` says where."""
    url = settings.sim_chain_url or settings.redis_url
    if url:
        return RedisSwapLedger(url, prefix=settings.redis_prefix)
    return InMemorySwapLedger()


def make_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisEventBus(
            settings.redis_url,
            prefix=settings.redis_prefix,
            feed_length=settings.event_feed_length,
        )
    return InMemoryEventBus(feed_length=settings.event_feed_length)


def make_launch_board(settings: Settings) -> LaunchBoard:
    """Token launches reach every process through Redis (the simulated venues of each
    process open the pool); in one process, in memory."""
    if settings.redis_url:
        return RedisLaunchBoard(settings.redis_url, prefix=settings.redis_prefix)
    return InMemoryLaunchBoard()


def make_rate_window(settings: Settings) -> RateWindow:
    """Accounts' orders-per-minute windows: in Redis, one per account for every API process
    of a deployment; in one process, its own."""
    if settings.redis_url:
        return RedisRateWindow(settings.redis_url, prefix=settings.redis_prefix)
    return InMemoryRateWindow()


def make_workers(settings: Settings) -> WorkerHeartbeats:
    """Worker heartbeats in Redis (every process of a deployment sees every worker), else
    this process's own workers."""
    if settings.redis_url:
        return RedisWorkerHeartbeats(
            settings.redis_url, prefix=settings.redis_prefix, interval_s=settings.worker_heartbeat_s
        )
    return LocalWorkers()


def make_in_flight_board(settings: Settings) -> InFlightBoard:
    """The swaps in flight of every process on one chain, shared through Redis (each
    worker prices pools behind the others' swaps too); in one process, its own only."""
    if settings.redis_url:
        return RedisInFlightBoard(settings.redis_url, prefix=settings.redis_prefix)
    return LocalInFlightBoard()


@dataclass(frozen=True, slots=True)
class Adapters:
    store: OrderStore
    queue: JobQueue
    watch_queue: JobQueue
    bus: EventBus
    chain: SwapLedger  # the simulated venues' chain (unused with chain venues)
    board: LaunchBoard
    workers: WorkerHeartbeats
    accounts: AccountStore
    rates: RateWindow  # accounts' orders per minute
    in_flight: InFlightBoard  # the processes' swaps in flight (chain venues over RPC)

    async def close(self) -> None:
        """Close what `make_adapters` opened (when the engine cannot be built)."""
        for closable in (self.queue, self.watch_queue):
            await closable.close(timeout_s=0)
        for other in (
            self.bus, self.board, self.chain, self.rates, self.store, self.accounts,
            self.in_flight,
        ):  # fmt: skip
            await other.close()
        await self.workers.stop()


async def make_adapters(
    settings: Settings, policy: RetryPolicy, metrics: EngineMetrics, *, auto_migrate: bool
) -> Adapters:
    store = LoggingOrderStore(await make_store(settings, auto_migrate))
    try:
        accounts = await make_account_store(settings, auto_migrate)
    except BaseException:
        await store.close()
        raise
    return Adapters(
        store,
        make_queue(settings, policy),
        make_watch_queue(settings, policy),
        MetricsEventBus(make_bus(settings), metrics),
        make_chain(settings),
        make_launch_board(settings),
        make_workers(settings),
        accounts,
        make_rate_window(settings),
        make_in_flight_board(settings),
    )
