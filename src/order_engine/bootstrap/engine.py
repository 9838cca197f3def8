"""The running engine: its adapters and use cases, started and stopped together."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.heartbeats import worker_problem
from order_engine.adapters.metrics import EngineMetrics
from order_engine.api.context import ApiContext
from order_engine.api.schemas import iso_ms
from order_engine.bootstrap.access import make_access
from order_engine.bootstrap.factories import Adapters, make_wallet_vault
from order_engine.bootstrap.venues import VenueSet
from order_engine.chain.port import Chain
from order_engine.domain.errors import AlreadyLaunchedError, DependencyUnavailableError, EngineError
from order_engine.domain.launches import LaunchRequest, parse_schedule
from order_engine.domain.orders import Execution
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.accounts import AccountAdmin
from order_engine.engine.activity import QueueActivity
from order_engine.engine.executor import OrderExecutor
from order_engine.engine.feed import OrderFeed
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.ports import EventBus, JobQueue, OrderStore
from order_engine.engine.service import OrderService
from order_engine.engine.waiting_orders import WaitingOrders
from order_engine.engine.wallets import AccountWallets
from order_engine.settings import Settings
from order_engine.venues.base import Venue
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.chain.pools import pool_views

log = logging.getLogger(__name__)


@dataclass
class Engine:
    settings: Settings
    adapters: Adapters
    venue_set: VenueSet
    service: OrderService
    executor: OrderExecutor
    waiting: WaitingOrders
    launches: TokenLaunches
    metrics: EngineMetrics
    tokens: TokenRegistry  # this engine's: built-in tokens and every launch it applied
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def store(self) -> OrderStore:
        return self.adapters.store

    @property
    def queue(self) -> JobQueue:
        return self.adapters.queue

    @property
    def watch_queue(self) -> JobQueue:
        """Waiting orders' per-pair watch jobs (no rate limit)."""
        return self.adapters.watch_queue

    @property
    def bus(self) -> EventBus:
        return self.adapters.bus

    @property
    def venues(self) -> list[Venue]:
        return self.venue_set.venues

    async def start_workers(self) -> None:
        await self.queue.start(self.executor.handle)
        await self.watch_queue.start(self.waiting.handle_watch)
        await self.adapters.workers.start()
        await self.recover()
        self._tasks.append(asyncio.create_task(self._recovery_loop()))
        for delay_s, request in parse_schedule(self.settings.sim_launches):
            self._tasks.append(asyncio.create_task(self._scheduled_launch(delay_s, request)))
        if self.venue_set.market is not None:
            self.venue_set.market.start()

    async def _scheduled_launch(self, delay_s: float, request: LaunchRequest) -> None:
        await asyncio.sleep(delay_s)
        try:
            await self.launches.launch(request)
        except AlreadyLaunchedError:
            log.info("scheduled launch of %s: launched already", request.symbol)
        except EngineError as exc:
            log.warning("scheduled launch of %s failed: %s", request.symbol, exc.message)

    async def recover(self) -> None:
        """Queue every unfinished order again, and watch every pair orders wait on."""
        await self.service.recover()
        await self.waiting.recover()

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.recovery_interval_s)
            try:
                await self.recover()
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
        await self.watch_queue.close(timeout_s=self.settings.shutdown_timeout_s)
        await self.queue.close(timeout_s=self.settings.shutdown_timeout_s)
        await self.adapters.workers.stop()  # after the jobs in flight: it worked till now
        await self.bus.close()
        await self.service.stream_watch.close()
        await self.adapters.board.close()
        await self.adapters.chain.close()
        await self.adapters.rates.close()
        await self.adapters.accounts.close()
        if self.venue_set.market is not None:
            await self.venue_set.market.stop()
        if self.venue_set.chain is not None:
            await self.venue_set.chain.close()
        await self.adapters.in_flight.close()  # after the swaps: they clear their totals
        await self.store.close()

    async def executions(self, order_id: str) -> list[Execution]:
        """Every swap that landed on the chain (or the simulated one) for `order_id`, paid
        by its account's wallet (or the engine's)."""
        payer = None
        if self.venue_set.wallets is not None:
            order = await self.store.get(order_id)
            payer = await self.venue_set.wallets.public_key(order.account_id)
        return await self.venue_set.executions(order_id, payer)

    async def readiness(self) -> dict[str, Any]:
        """`checks` (each dependency: "ok" or why not; `workers`: whether queued orders have
        a live worker), `workers` (live worker processes) and `queueDepth`."""
        checks = await self._dependency_checks()
        live, depth = await self._work(checks)
        return {"checks": checks, "workers": live, "queueDepth": depth}

    async def _work(self, checks: dict[str, str]) -> tuple[int | None, int | None]:
        try:
            live = await self.adapters.workers.live()
            depth = await self.queue.depth()
        except EngineError as exc:
            checks["workers"] = exc.message
            return None, None
        checks["workers"] = worker_problem(live=live, depth=depth) or "ok"
        return live, depth

    async def _dependency_checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, dep in (("database", self.store), ("queue", self.queue), ("events", self.bus)):
            try:
                await dep.ping()
                checks[name] = "ok"
            except Exception as exc:  # readiness reports, it does not raise
                checks[name] = getattr(exc, "message", type(exc).__name__)
        chain = self.venue_set.chain
        if chain is not None:
            try:
                await chain.slot()
                checks["chain"] = "ok"
            except EngineError as exc:
                checks["chain"] = exc.message
        return checks

    async def render_metrics(self) -> bytes:
        try:
            live: int | None = await self.adapters.workers.live()
        except EngineError:
            live = None
        return await self.metrics.render(self.queue, live)

    async def api_context(self, command: str = "serve") -> ApiContext:
        """What the API needs, with access control (`AUTH_MODE`): an embedded `serve`
        makes the first admin key; open mode, the local account. On the chain venues, the
        first account `serve` makes holds the engine's wallet (funded by its chain)."""
        s, chain, wallets = self.settings, self.venue_set.chain, self.venue_set.wallets
        clock = SystemClock()
        store = self.adapters.accounts
        first = wallets.engine_wallet if wallets is not None and command == "serve" else None
        admin = AccountAdmin(store, clock, make_wallet_vault(s), first_wallet=first)
        access = await make_access(s, admin, store, clock, command)
        activity = QueueActivity(clock, window_s=s.rate_limit_window_s)
        self._tasks.append(asyncio.create_task(activity.run(self.bus), name="queue-activity"))
        return ApiContext(
            service=self.service,
            public_base_url=s.resolved_public_base_url,
            max_body_bytes=s.max_body_bytes,
            readiness=self.readiness,
            metrics=self.render_metrics,
            launches=self.launches,
            chain_tx=None if chain is None else functools.partial(chain_transaction, chain),
            chain_pools=_chain_pools(
                [v for v in self.venues if isinstance(v, ChainVenue)], self.tokens
            ),
            access=access,
            wallets=AccountWallets(admin, self.tokens, wallets, self.venue_set.faucet),
            feed=OrderFeed(self.store, self.bus),
            queue_activity=functools.partial(self.queue_view, activity),
        )

    async def queue_view(self, activity: QueueActivity) -> dict[str, Any]:
        """The queue panel (`GET /api/queue`): the queue and workers now, and what the
        feed of every order's events showed this process."""
        s, seen = self.settings, activity.snapshot()
        depth: int | None
        try:
            live: int | None = await self.adapters.workers.live()
            depth = await self.queue.depth()
        except EngineError:
            live = depth = None
        used_up = s.rate_limit_max > 0 and seen.started_in_window >= s.rate_limit_max
        return {
            "depth": depth,
            "workers": live,
            "concurrency": s.worker_concurrency,
            "inFlight": seen.in_flight,
            "rateLimit": {
                "max": s.rate_limit_max,
                "windowS": s.rate_limit_window_s,
                "startedInWindow": seen.started_in_window,
                "limited": used_up and bool(depth),
            },
            "finishedLastMinute": seen.finished_last_minute,
            "since": iso_ms(seen.since_ms),
        }


async def chain_transaction(chain: Chain, signature: str) -> dict[str, Any] | None:
    """A transaction as the chain knows it, with its commitment; None if it has none."""
    details = await chain.transaction(signature)
    if details is None:
        return None
    (status,) = await chain.signature_statuses([signature])
    commitment = None if status is None else status.commitment.value
    return {**details.as_dict(), "commitment": commitment}


def _chain_pools(
    venues: Sequence[ChainVenue], tokens: TokenRegistry
) -> Callable[[], Awaitable[dict[str, Any]]] | None:
    if not venues:
        return None

    async def read() -> dict[str, Any]:
        return (await pool_views(venues, tokens.values())).as_dict()

    return read
