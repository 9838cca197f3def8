"""SQL store specifics the contract suite cannot see: setup, error translation, batching."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ClauseElement

from order_engine.adapters.sql import (
    SqlOrderStore,
    create_engine,
    create_sql_store,
    migrate,
    queries,
)
from order_engine.adapters.sql.runner import SqliteRunner, Work
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import Order, OrderStatus
from tests.event_samples import payload_for, with_data

T = TypeVar("T")


def new_order(i: int) -> Order:
    return Order(f"order-{i:04d}", "SOL", "USDC", Decimal("1.5"), 50, 1_700_000_000_000 + i)


class CountingRunner(SqliteRunner):
    """Counts write transactions."""

    writes = 0

    async def write(self, work: Work[T]) -> T:
        self.writes += 1
        return await super().write(work)


class BrokenRunner(SqliteRunner):
    """A database that fails every statement the way a dead server does."""

    def _fail(self) -> OperationalError:
        return OperationalError("SELECT 1", {}, Exception("secret driver detail"))

    async def write(self, work: Work[T]) -> T:
        raise self._fail()

    async def read(self, work: Work[T]) -> T:
        raise self._fail()


async def test_sqlite_store_creates_its_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "orders.db"
    store = await create_sql_store(f"sqlite+aiosqlite:///{path}")
    try:
        assert path.exists()
        async with store.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        assert (mode, keys) == ("wal", 1)

        def threaded_pragmas(conn: Connection) -> tuple[object, ...]:
            return tuple(
                conn.execute(text(f"PRAGMA {p}")).scalar()
                for p in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            )

        runner = SqliteRunner(store.engine)
        try:
            assert await runner.read(threaded_pragmas) == ("wal", 1, 5000, 1)
        finally:
            await runner.close()
    finally:
        await store.close()


async def test_unopenable_database_is_dependency_unavailable(tmp_path: Path) -> None:
    try:
        with pytest.raises(DependencyUnavailableError) as caught:
            await create_sql_store(f"sqlite+aiosqlite:///{tmp_path}")  # a folder, not a file
        assert str(caught.value) == "database unavailable"
        assert caught.value.__cause__ is not None
    finally:
        await join_aiosqlite_threads()


async def join_aiosqlite_threads() -> None:
    """aiosqlite stops the thread of a failed connect without waiting for it; if this
    test's loop closed first, that thread would fail to report back to it."""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 2.0)


async def test_driver_errors_never_leak_their_message(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    store = SqlOrderStore(engine, runner=BrokenRunner(engine))
    order = new_order(1)
    try:
        for call in (
            lambda: store.create(order, order.start()),
            lambda: store.get(order.id),
            lambda: store.list(status=None, limit=5, cursor=None),
            store.ping,
        ):
            with pytest.raises(DependencyUnavailableError) as caught:
                await call()
            assert "secret" not in str(caught.value)
            assert isinstance(caught.value.__cause__, OperationalError)
    finally:
        await store.close()


async def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await migrate(engine)
    runner = CountingRunner(engine)
    store = SqlOrderStore(engine, runner=runner)
    orders = [new_order(i) for i in range(100)]
    try:
        await asyncio.gather(*(store.create(o, o.start()) for o in orders))
        events = [o.apply(payload_for(OrderStatus.ROUTING), ts_ms=o.created_ms + 1) for o in orders]
        await asyncio.gather(*(store.append(o, e) for o, e in zip(orders, events, strict=True)))
        assert runner.writes < 20  # 200 writes, grouped into a few transactions
        assert await store.count() == 100
        assert [e.seq for e in await store.events("order-0042")] == [1, 2]
    finally:
        await store.close()


def test_in_memory_sqlite_is_refused() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    with pytest.raises(ValueError, match="in-memory"):
        SqlOrderStore(engine)


async def test_a_bad_write_fails_alone(tmp_path: Path) -> None:
    store = await create_sql_store(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    orders = [new_order(i) for i in range(6)]
    try:
        await asyncio.gather(*(store.create(o, o.start()) for o in orders))
        data: list[dict[str, object]] = [{"i": i} for i in range(5)]
        data.append({"x": object()})
        events = [
            with_data(o.apply(payload_for(OrderStatus.ROUTING), ts_ms=o.created_ms + 1), d)
            for o, d in zip(orders, data, strict=True)
        ]
        results = await asyncio.gather(
            *(store.append(o, e) for o, e in zip(orders, events, strict=True)),
            return_exceptions=True,
        )
        assert results[:5] == [None] * 5
        assert isinstance(results[5], Exception)
        assert [e.seq for e in await store.events(orders[5].id)] == [1]
        assert [e.seq for e in await store.events(orders[4].id)] == [1, 2]
    finally:
        await store.close()


def test_every_prepared_query_is_compiled_once() -> None:
    """A statement without a cache key is compiled again on every execution (SQLAlchemy
    skips its compiled cache): each of the store's prepared queries has one."""
    statements: dict[str, ClauseElement] = {}
    for name, value in vars(queries).items():
        by_key = value if isinstance(value, dict) else {"": value}
        for key, stmt in by_key.items():
            if isinstance(stmt, ClauseElement) and not name.startswith("_"):
                statements[f"{name}[{key}]" if key != "" else name] = stmt
    assert {"CHANGES", "HORIZON", "GET_ORDER"} <= statements.keys()
    uncached = [name for name, stmt in statements.items() if stmt._generate_cache_key() is None]
    assert uncached == []
