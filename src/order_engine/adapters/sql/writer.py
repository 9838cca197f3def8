"""Group commit: one writer task turns the concurrent creates, appends and detail saves of
a process into few transactions.

Callers queue a `Write` and await its future. The writer takes everything pending, splits
it where an order id repeats (so each group touches an order once, in arrival order) and
commits each group in one transaction with one executemany per statement. A group whose
batch hits a constraint or a stale seq is rolled back and replayed one write per
transaction, so every caller still gets exactly its own outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from sqlalchemy import Connection, exists, select

from order_engine.adapters.sql import pg_batches
from order_engine.adapters.sql.changes import tick_clock
from order_engine.adapters.sql.errors import (
    INTEGRITY_ERRORS,
    UNAVAILABLE_ERRORS,
    database_errors,
    is_retryable,
    translate,
)
from order_engine.adapters.sql.payer import INSERT_RECORDING, RECORDED, recording_row
from order_engine.adapters.sql.runner import SqlRunner
from order_engine.adapters.sql.tables import orders
from order_engine.adapters.sql.updates import (
    INSERT_EVENT,
    UPDATE_ORDER,
    StaleWriteError,
    update_orders,
)
from order_engine.domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    DependencyUnavailableError,
    EngineError,
    IdempotencyConflictError,
    OrderNotFoundError,
)

MAX_BATCH = 500
# one write's fault: replay the group write by write to find whose
REPLAY_EACH: tuple[type[BaseException], ...] = (*INTEGRITY_ERRORS, StaleWriteError)


class Kind(Enum):
    CREATE = "create"
    APPEND = "append"
    DETAILS = "details"


@dataclass(slots=True)
class Write:
    """One caller's change: `row` is the full order row (create) or its mutable columns."""

    kind: Kind
    order_id: str
    row: dict[str, Any]
    event_row: dict[str, Any] | None = None
    expected_seq: int = 0
    idempotency_key: str | None = None
    wallet: str | None = None  # a create's: who pays, as the INSERT recorded it (`payer`)
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def update_params(self) -> dict[str, Any]:
        return {**self.row, "b_id": self.order_id, "b_expected_seq": self.expected_seq}


class GroupCommitWriter:
    def __init__(self, runner: SqlRunner, *, max_batch: int = MAX_BATCH) -> None:
        self._runner = runner
        self._max_batch = max_batch
        self._pending: list[Write] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, write: Write) -> None:
        """Queue `write` and wait until it is committed (or raise its own error)."""
        if self._closed:
            raise DependencyUnavailableError("order store is closed")
        self._ensure_running()
        self._pending.append(write)
        self._wakeup.set()
        await write.future

    def _ensure_running(self) -> None:
        """Start the writer task on the running loop (again, if the store outlived a loop)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._pending = [w for w in self._pending if w.future.get_loop() is loop]
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._run(), name="order-store-writer")

    async def close(self) -> None:
        """Commit what is already queued, then stop the writer task."""
        self._closed = True
        if self._task is not None and self._task.get_loop() is asyncio.get_running_loop():
            self._wakeup.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    await asyncio.sleep(0)  # let callers just settled queue their next write
                    batch = self._pending[: self._max_batch]
                    del self._pending[: self._max_batch]
                    try:
                        await self._write_batch(batch)
                    except Exception as exc:  # never leave a caller waiting
                        for write in batch:
                            _settle(write, exc)
                if self._closed:
                    return
        finally:
            for write in self._pending:
                _settle(write, DependencyUnavailableError("order store is closed"))

    async def _write_batch(self, batch: list[Write]) -> None:
        one_statement = self._runner.dialect.name == "postgresql"
        for group in _groups([w for w in batch if not w.future.done()]):
            parts = _split_kinds(group) if one_statement else [group]
            for part in parts:
                await self._commit(part, one_statement)

    async def _commit(self, group: list[Write], one_statement: bool) -> None:
        """`group` in one transaction (on PostgreSQL: one statement, no transaction); a
        group that fails is replayed write by write, so each caller gets its own outcome."""
        try:
            if one_statement:
                missed = await self._one_statement(group)
            else:
                await self._runner.write(partial(write_group, group=group))
                missed = []
        except REPLAY_EACH:
            await self._write_each(group)
        except UNAVAILABLE_ERRORS as exc:
            if is_retryable(exc):  # a deadlock with another process's batch
                await self._write_each(group)
            else:  # the database is down: no use trying each
                for write in group:
                    _settle(write, exc)
        except Exception:  # e.g. one caller's unencodable data: it alone should fail
            await self._write_each(group)
        else:
            stale = {w.order_id for w in missed}
            for write in group:
                if write.order_id not in stale:
                    _settle(write, None)
            await self._write_each(missed)

    async def _one_statement(self, group: list[Write]) -> list[Write]:
        """Creates alone or updates alone (`_split_kinds`), as one statement; the updates
        it did not apply (their order moved on) are returned: their events were not added."""
        dialect = self._runner.dialect
        events = _event_rows(group)
        if group[0].kind is Kind.CREATE:
            statement, arrays = pg_batches.create_statement([w.row for w in group], events, dialect)
        else:
            params = [w.update_params() for w in group]
            statement, arrays = pg_batches.update_statement(params, events, dialect)
        answer = await self._runner.execute_one(statement, arrays)
        written = {row["id"]: row.get("wallet") for row in answer}
        for write in group:
            write.wallet = written.get(write.order_id)
        return [w for w in group if w.order_id not in written]

    async def _write_each(self, group: list[Write]) -> None:
        for write in group:
            try:
                with database_errors():
                    await self._write_alone(write)
            except Exception as exc:
                _settle(write, exc)
            else:
                _settle(write, None)

    async def _write_alone(self, write: Write) -> None:
        try:
            await self._runner.write(lambda conn: write_one(conn, write))
        except INTEGRITY_ERRORS as exc:
            raise await self._runner.read(lambda conn: explain_conflict(conn, write)) from exc
        except StaleWriteError:
            raise await self._runner.read(lambda conn: explain_stale(conn, write)) from None


def write_group(conn: Connection, group: list[Write]) -> None:
    """All writes of `group` (distinct order ids) with one executemany per statement, in
    the caller's transaction (every dialect but PostgreSQL: see `_one_statement`)."""
    creates, updates = _by_kind(group)
    tick_clock(conn)
    if creates:
        conn.execute(INSERT_RECORDING, [recording_row(w.row) for w in creates])
        _read_recorded(conn, creates)
        if events := _event_rows(creates):
            conn.execute(INSERT_EVENT, events)
    if updates:
        update_orders(conn, [w.update_params() for w in updates], _event_rows(updates))


def write_one(conn: Connection, write: Write) -> None:
    tick_clock(conn)
    if write.kind is Kind.CREATE:
        conn.execute(INSERT_RECORDING, recording_row(write.row))
        _read_recorded(conn, [write])
    elif conn.execute(UPDATE_ORDER, write.update_params()).rowcount != 1:
        raise StaleWriteError
    if write.event_row is not None:
        conn.execute(INSERT_EVENT, write.event_row)


def _read_recorded(conn: Connection, creates: list[Write]) -> None:
    """Who pays for each new order, as its INSERT recorded it (same transaction)."""
    rows = conn.execute(RECORDED, {"ids": [w.order_id for w in creates]})
    recorded = {order_id: wallet for order_id, wallet in rows}
    for write in creates:
        write.wallet = recorded.get(write.order_id)


def explain_conflict(conn: Connection, write: Write) -> EngineError:
    """Why `write` broke a constraint, as the engine error its caller expects."""
    if write.kind is not Kind.CREATE:
        return ConcurrentUpdateError(f"order {write.order_id} already has that event")
    key = write.idempotency_key
    if key is not None and _exists(conn, orders.c.idempotency_key == key):
        return IdempotencyConflictError("idempotency key is already used by another order")
    return ConflictError(f"order {write.order_id} already exists")


def explain_stale(conn: Connection, write: Write) -> EngineError:
    if not _exists(conn, orders.c.id == write.order_id):
        return OrderNotFoundError(f"order {write.order_id} not found")
    return ConcurrentUpdateError(
        f"order {write.order_id} is no longer at seq {write.expected_seq}; reload it"
    )


def _exists(conn: Connection, condition: Any) -> bool:
    return bool(conn.scalar(select(exists().where(condition))))


def _by_kind(group: list[Write]) -> tuple[list[Write], list[Write]]:
    """`group`'s creates and its other writes (updates)."""
    creates = [w for w in group if w.kind is Kind.CREATE]
    return creates, [w for w in group if w.kind is not Kind.CREATE]


def _split_kinds(group: list[Write]) -> list[list[Write]]:
    return [part for part in _by_kind(group) if part]


def _event_rows(writes: list[Write]) -> list[dict[str, Any]]:
    return [w.event_row for w in writes if w.event_row is not None]


def _groups(writes: list[Write]) -> list[list[Write]]:
    """Split `writes` in arrival order so no order id appears twice in a group."""
    groups: list[list[Write]] = []
    seen: set[str] = set()
    for write in writes:
        if not groups or write.order_id in seen:
            groups.append([])
            seen = set()
        groups[-1].append(write)
        seen.add(write.order_id)
    return groups


def _settle(write: Write, error: BaseException | None) -> None:
    if write.future.done():
        return
    if error is None:
        write.future.set_result(None)
        return
    engine_error = translate(error)
    if engine_error is not error and engine_error.__cause__ is None:
        engine_error.__cause__ = error
    write.future.set_exception(engine_error)
