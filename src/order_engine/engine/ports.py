"""The engine's I/O seams. Each has an in-memory implementation (embedded mode and test
fake) and one contract test suite that every implementation passes."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from order_engine.domain.launches import Launch
from order_engine.domain.orders import Order, OrderEvent, OrderStatus

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Order]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Changes:
    """`OrderStore.changes`' answer: each order written since the cursor asked about, with
    its latest seq, and the cursor to ask with next."""

    cursor: int
    latest: dict[str, int]


class OrderStore(Protocol):
    """Durable orders and their event logs. The row and its event change in one
    transaction. Driver errors surface as `DependencyUnavailableError`."""

    async def create(self, order: Order, event: OrderEvent) -> None:
        """Insert a new order with its first event, recording who pays for it in
        `order.wallet` (its account's wallet as stored at that moment, else
        `ENGINE_WALLET`; an implementation that cannot tell leaves None). Raises
        `IdempotencyConflictError` if another order already holds `order.idempotency_key`."""
        ...

    async def append(self, order: Order, event: OrderEvent) -> None:
        """Save `order` (already moved by `Order.apply`) and insert `event`, only if the
        stored order is still at `event.seq - 1`; else raise `ConcurrentUpdateError`."""
        ...

    async def save_details(self, order: Order) -> None:
        """Save fields that are not a status change (e.g. an attempt's error) without an
        event, only if the stored order is still at `order.seq`; else raise
        `ConcurrentUpdateError`."""
        ...

    async def discard(self, order_id: str) -> bool:
        """Delete an order that has not moved past its first (`pending`) event, with that
        event: undoes a `create` whose job could not be queued. False if the order moved
        on meanwhile (then it stays) or does not exist."""
        ...

    async def get(self, order_id: str) -> Order:
        """Raises `OrderNotFoundError`."""
        ...

    async def find_by_idempotency_key(self, key: str) -> Order | None: ...

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> Page:
        """Newest first, of one `user_id` label and one owner `account_id` when given.
        `cursor` is the opaque
        `next_cursor` of the previous page;
        a malformed cursor raises `RequestError(field="cursor")`."""
        ...

    async def events(self, order_id: str, after: int = 0) -> builtins.list[OrderEvent]:
        """Events with `seq > after`, in order (empty for an unknown order)."""
        ...

    async def latest_seqs(self, order_ids: builtins.list[str]) -> dict[str, int]:
        """Each known order's latest event seq, in one read (however many ids: chunked as
        the database needs); unknown ids are left out."""
        ...

    async def changes(self, cursor: int | None) -> Changes:
        """The orders written since the answer that gave `cursor` was read (None: since
        now, so none), each with its latest seq, at the cost of what changed. Every write
        committed after that answer is in this one (a write may be in two answers); the
        orders' first events count as writes."""
        ...

    async def count_open(self, account_id: str) -> int:
        """How many of `account_id`'s orders are not final (`waiting` ones included), from
        an index on the owner and status: never a scan of the account's history."""
        ...

    async def unfinished(self, limit: int = 1000) -> builtins.list[str]:
        """Ids of orders that are neither terminal nor `waiting`, oldest first (waiting
        orders are watched per pair: see `waiting` and `waiting_pairs`)."""
        ...

    async def waiting(
        self, token_in: str, token_out: str, limit: int = 1000, after: tuple[int, str] | None = None
    ) -> builtins.list[Order]:
        """Orders `waiting` to trade `token_in` into `token_out`, oldest first (by created
        time, then id), at most `limit`; `after` (created_ms, id): the next page after it."""
        ...

    async def waiting_pairs(self) -> builtins.list[tuple[str, str]]:
        """Every (tokenIn, tokenOut) some order is `waiting` on, sorted."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery of an order to a worker. `attempt` is 1-based. `order`: on a job's first
    delivery only, the order as its submitter stored it (`JobQueue.enqueue`'s `order`), so
    the handler need not read it back; None on any later delivery (a retry, a reschedule,
    a job redelivered after its worker died). A copy gone stale (cancelled meanwhile) is
    safe: the store's optimistic seq check refuses its first write."""

    order_id: str
    attempt: int
    max_attempts: int
    order: Order | None = None

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


JobHandler = Callable[[Job], Awaitable[float | None]]
"""Handles one delivery. Returns None when the job is done, or a delay in seconds to run the
SAME job again after it (a reschedule, e.g. re-checking a limit order's price): the job stays
queued, delayed, under its id, and comes back with the same `attempt` (a reschedule is not a
failed attempt; the rate limiter counts the later run as a start). Raising is a failure,
retried with backoff while attempts remain; so is returning a negative or non-finite delay."""


class JobQueue(Protocol):
    """At-least-once job delivery with the engine's policy: a job id is the order id (a
    second enqueue of a waiting, delayed or active id is a no-op), at most `concurrency`
    handlers run at once per worker, at most `rate_limit_max` jobs start per
    `rate_limit_window_s` (0 = no limit), a handler that raises is retried with
    exponential backoff until `max_attempts` deliveries have been made, and a handler that
    returns a delay is run again after it without using an attempt (see `JobHandler`).
    Scheduled waits are timers of the queue, not a sleeping task per job."""

    async def enqueue(
        self, order_id: str, *, delay_s: float = 0.0, new: bool = False, order: Order | None = None
    ) -> bool:
        """Queue a job for `order_id` (any string key, e.g. `watch:SOL:USDC`), runnable once
        `delay_s` seconds have passed (0 = now); False if one is already waiting, delayed or
        active. Raises `CapacityError` when the queue holds its maximum depth, `ValueError`
        for a negative or non-finite delay. `new`: the caller just made `order_id` (it was
        never queued) and checked `depth()` itself, so a queue whose checks cost a round
        trip may skip both. `order`: the order as just stored, carried (a copy) to the
        job's first delivery (`Job.order`)."""
        ...

    async def depth(self) -> int:
        """Jobs waiting, delayed or active."""
        ...

    async def start(self, handler: JobHandler) -> None:
        """Begin consuming jobs in the background (worker side)."""
        ...

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking jobs; wait up to `timeout_s` for active ones. Delayed jobs (retries,
        reschedules, delayed enqueues) are the implementation's: in memory they are dropped,
        in Redis they stay for any worker."""
        ...

    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One event on the feed of every order's events, with its place on the feed: `id` is
    `"<ms>-<n>"`, increasing along the feed (compare as the pair of integers)."""

    id: str
    event: OrderEvent


class FeedSubscription(Protocol):
    """Entries of the feed in publish order, each once. `gap` is True when the history no
    longer reaches back to the `after` asked for (entries after it were dropped), so a
    reader missed some events and should re-read the record (the store)."""

    @property
    def gap(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[FeedEntry]: ...


class LiveEvents(Protocol):
    """One order's live events (`EventBus.subscribe`): iterating yields them and ends when
    the subscription ends. `nudge` wakes a reader waiting in `next_or_nudge`."""

    def __aiter__(self) -> AsyncIterator[OrderEvent]: ...

    async def __anext__(self) -> OrderEvent: ...

    def nudge(self) -> None:
        """Make `next_or_nudge` return None once no event is waiting (now, or at its next
        call): somebody saw the store ahead of this subscriber."""
        ...

    async def next_or_nudge(self) -> OrderEvent | None:
        """The next event, or None after a `nudge`; raises `StopAsyncIteration` once the
        subscription ended and every event was read."""
        ...

    def recent(self) -> list[OrderEvent] | None:
        """The events with seq > `after` that this process's bus saw before the
        subscription began, when it saw every one of the order's events up to then (from
        seq 1, none missing, lately); None when it cannot tell, and on any later call (the
        caller reads the store instead). Later events come live."""
        ...


class EventBus(Protocol):
    """Fan-out of committed lifecycle events to every process that streams them: per order,
    and one feed of every order's events (bounded history, for dashboards)."""

    async def publish(self, event: OrderEvent) -> None: ...

    def subscribe(self, order_id: str, after: int = 0) -> AbstractAsyncContextManager[LiveEvents]:
        """Events of `order_id` with `seq > after` published from now on (an
        implementation may also replay older ones; consumers drop duplicates by seq)."""
        ...

    def subscribe_all(
        self, after: str | None = None
    ) -> AbstractAsyncContextManager[FeedSubscription]:
        """Every order's events published from now on (`after` None), or first the retained
        ones after feed id `after`, then live ones: in publish order, once each. The
        history is bounded (the newest entries, about the bus's feed length); a bus that
        cannot tell whether it still holds everything after `after` reports a gap."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


LaunchListener = Callable[[Launch], Awaitable[None]]
"""Called once per launch a process learns of (its own or another process's)."""


class LaunchBoard(Protocol):
    """Where token launches are announced to every process of a deployment (the simulated
    venues of each process open the pool when they hear of it). Driver errors surface as
    `DependencyUnavailableError`."""

    async def announce(self, launch: Launch) -> bool:
        """Record `launch` and tell every listener (in every process sharing the board);
        False, and nothing changes, if `launch.symbol` was launched before."""
        ...

    async def launches(self) -> builtins.list[Launch]:
        """Every launch recorded so far, oldest first."""
        ...

    async def listen(self, listener: LaunchListener) -> None:
        """From now on, call `listener` for every launch announced by any process, in the
        order announced. Launches announced before are in `launches()`: a caller that needs
        all of them listens first, then reads `launches()`, and ignores repeats."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
