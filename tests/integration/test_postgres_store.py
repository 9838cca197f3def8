"""The SQL store on a real PostgreSQL: what the contract suite cannot see (migrations
across processes, an unmigrated database, NUMERIC money, several stores, batching)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql import (
    SqlOrderStore,
    UnmigratedDatabaseError,
    create_engine,
    create_sql_store,
    ensure_migrated,
    is_at_head,
    migrate,
    pg_batches,
)
from order_engine.adapters.sql.runner import AsyncRunner
from order_engine.adapters.sql.tables import metadata, orders
from order_engine.domain.errors import ConcurrentUpdateError
from order_engine.domain.legs import Leg
from order_engine.domain.orders import Order, OrderError, OrderStatus
from tests.event_samples import payload_for, with_data
from tests.pgdb import fresh_database

T = TypeVar("T")
S = OrderStatus
T0 = 1_700_000_000_000


def new_order(amount: str = "1.5", i: int = 0) -> Order:
    return Order(str(uuid.uuid4()), "SOL", "USDC", Decimal(amount), 50, T0 + i)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[SqlOrderStore]:
    store = await create_sql_store(pg_url)
    try:
        yield store
    finally:
        await store.close()


def with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


async def test_unmigrated_database_is_refused_with_a_clear_message(pg_url: str) -> None:
    url = with_password(pg_url, "s3cret")  # trust auth ignores it; it must not be shown
    parts = make_url(pg_url)
    port = f":{parts.port}" if parts.port else ""
    where = f"{parts.drivername}://{parts.username}@{parts.host}{port}/{parts.database}"
    with pytest.raises(UnmigratedDatabaseError) as caught:
        await create_sql_store(url, migrate=False, require_migrated=True)
    assert str(caught.value) == (
        f"the database at {where} is not migrated: run `order-engine migrate`"
    )

    store = await create_sql_store(url, migrate=False)  # unchecked: opens, stays unmigrated
    try:
        with pytest.raises(UnmigratedDatabaseError):
            await ensure_migrated(store.engine)
        await migrate(store.engine)
        await ensure_migrated(store.engine)
    finally:
        await store.close()
    checked = await create_sql_store(url, migrate=False, require_migrated=True)
    await checked.close()


async def test_database_newer_than_the_code_is_refused(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(UnmigratedDatabaseError, match="revision 9999, newer than"):
            await ensure_migrated(engine)
    finally:
        await engine.dispose()


def version_rows(conn: Connection) -> list[Any]:
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


MIGRATE_WHEN_TOLD = """
import asyncio, sys
from order_engine.adapters.sql import create_engine, migrate

async def main(url):
    engine = create_engine(url)
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await migrate(engine)
    await engine.dispose()

asyncio.run(main(sys.argv[1]))
"""


async def test_processes_migrating_at_once_are_safe(pg_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE_WHEN_TOLD,
            pg_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for process in processes:  # every one connected, then all upgrade together
        assert process.stdout is not None
        assert await process.stdout.readline() == b"ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
    outcomes = [await process.communicate() for process in processes]
    for process, (_out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err.decode()[-2000:]
    await assert_migrated_once(pg_url)


async def test_concurrent_migrations_in_one_process_take_turns(pg_url: str) -> None:
    engines = [create_engine(pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        await asyncio.gather(*(migrate(engine) for engine in engines))  # and again: no-op
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    await assert_migrated_once(pg_url)


async def assert_migrated_once(url: str) -> None:
    store = await create_sql_store(url, migrate=False, require_migrated=True)
    try:
        assert await is_at_head(store.engine)
        async with store.engine.connect() as conn:
            assert len(await conn.run_sync(version_rows)) == 1
        order = new_order()
        await store.create(order, order.start())
        assert await store.get(order.id) == order
    finally:
        await store.close()


def schema_report(conn: Connection) -> dict[str, Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    types = conn.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'orders' AND column_name IN "
            "('amount_in', 'executed_price', 'error', 'attempt_errors', 'created_ms')"
        )
    )
    return {
        "drift": compare_metadata(context, metadata),
        "types": {name: kind for name, kind in types},
    }


async def test_migrated_schema_matches_the_tables(pg_store: SqlOrderStore) -> None:
    async with pg_store.engine.connect() as conn:
        report = await conn.run_sync(schema_report)
    assert report["drift"] == []
    assert report["types"] == {
        "amount_in": "numeric",
        "executed_price": "numeric",
        "error": "text",
        "attempt_errors": "text",
        "created_ms": "bigint",
    }


async def test_money_is_numeric_and_exact(pg_store: SqlOrderStore) -> None:
    order = new_order("123456789.123456789")
    await pg_store.create(order, order.start())
    for status in (S.ROUTING, S.BUILDING, S.SUBMITTED):
        await pg_store.append(order, order.apply(payload_for(status), ts_ms=order.updated_ms + 1))
    leg = Leg("meteora", "tx", order.amount_in, Decimal("1E-9"), 1).landed(Decimal("2.50"))
    order.legs = [leg]
    await pg_store.append(order, order.confirm_fill(ts_ms=T0 + 9))

    got = await pg_store.get(order.id)
    assert got == order
    assert str(got.amount_in) == "123456789.123456789"
    assert got.min_amount_out == Decimal("1E-9")
    assert got.executed_price == Decimal("0.000000020250")  # 2.50 / amount_in, 12 places
    assert str(got.amount_out) == "2.50"  # unconstrained NUMERIC keeps the given scale
    async with pg_store.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT pg_typeof(amount_in)::text, amount_in::text, "
                    "min_amount_out::text, amount_out::text FROM orders WHERE id = :id"
                ),
                {"id": order.id},
            )
        ).one()
    assert tuple(row) == ("numeric", "123456789.123456789", "0.000000001", "2.50")


async def test_a_huge_exponent_keeps_its_value_but_not_its_form(pg_store: SqlOrderStore) -> None:
    order = new_order("1E+3")
    await pg_store.create(order, order.start())
    got = await pg_store.get(order.id)
    assert got.amount_in == Decimal("1E+3")
    assert str(got.amount_in) == "1000"  # NUMERIC has no negative scale


async def test_two_processes_racing_on_one_order_admit_one(pg_url: str) -> None:
    stores = [await create_sql_store(pg_url) for _ in range(2)]
    try:
        order = new_order()
        await stores[0].create(order, order.start())
        copies = [await stores[i % 2].get(order.id) for i in range(6)]
        events = [
            with_data(c.apply(payload_for(S.ROUTING), ts_ms=T0 + 1), {"n": i})
            for i, c in enumerate(copies)
        ]
        results = await asyncio.gather(
            *(
                stores[i % 2].append(c, e)
                for i, (c, e) in enumerate(zip(copies, events, strict=True))
            ),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, ConcurrentUpdateError) for r in results if r is not None)
        assert [e.seq for e in await stores[1].events(order.id)] == [1, 2]
    finally:
        for store in stores:
            await store.close()


async def test_changes_see_a_write_that_commits_after_a_later_one(
    pg_store: SqlOrderStore,
) -> None:
    """Transaction ids are handed out in start order, not commit order: a cursor past the
    newest committed id would skip the older transaction still open. The snapshot's xmin
    does not."""
    slow, fast = new_order(), new_order(i=1)
    for order in (slow, fast):
        await pg_store.create(order, order.start())
    cursor = (await pg_store.changes(None)).cursor
    async with pg_store.engine.begin() as conn:  # a writer that began first, commits last
        bump = update(orders).where(orders.c.id == slow.id).values(seq=orders.c.seq)
        await conn.execute(bump)
        fast_event = fast.apply(payload_for(S.ROUTING), ts_ms=T0 + 2)
        await pg_store.append(fast, fast_event)
        first = await pg_store.changes(cursor)
        # Another test's open transaction may hold the horizon back, so the feed may name
        # more than was written (it errs on the side of naming); it never shows slow's
        # uncommitted write.
        assert first.latest[fast.id] == 2
        assert first.latest.get(slow.id, 1) == 1
    second = await pg_store.changes(first.cursor)
    assert second.latest[slow.id] == 1


async def test_batched_updates_write_every_column(
    pg_store: SqlOrderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    with_events: list[int] = []
    batch_update = pg_batches.update_statement

    def counting(params: list[dict[str, Any]], events: Any, dialect: Any) -> Any:
        batches.append(len(params))
        with_events.append(len(events))
        return batch_update(params, events, dialect)

    monkeypatch.setattr(pg_batches, "update_statement", counting)
    orders = [new_order(f"{i}.{i:03d}", i) for i in range(40)]
    await asyncio.gather(*(pg_store.create(o, o.start()) for o in orders))

    async def fail(order: Order, i: int) -> None:
        await pg_store.append(order, order.apply(payload_for(S.ROUTING), ts_ms=T0 + 50))
        first = OrderError("venue_unavailable", f"timeout ü {i}", attempt=1, ts_ms=T0 + 51)
        order.record_attempt_error(first)
        order.min_amount_out = Decimal(f"0.{i:09d}")
        await pg_store.save_details(order)
        final = OrderError("no_route", "none", attempt=2, ts_ms=T0 + 52)
        order.record_attempt_error(final)
        await pg_store.append(order, order.fail(final, ts_ms=T0 + 53))

    await asyncio.gather(*(fail(o, i) for i, o in enumerate(orders)))
    assert [await pg_store.get(o.id) for o in orders] == orders
    assert batches and max(batches) > 1  # the one-statement path ran, for many rows
    assert max(with_events) > 1  # ... and inserted their events in the same statement
    for order in orders:
        stored = await pg_store.events(order.id)
        assert [(e.seq, e.status) for e in stored] == [
            (1, S.PENDING),
            (2, S.ROUTING),
            (3, S.FAILED),
        ]
        assert (stored[1].ts_ms, stored[2].ts_ms) == (T0 + 50, T0 + 53)
        assert "none" in str(stored[2].data)  # the JSON column went through its encoder


async def test_a_stale_order_in_a_batch_fails_alone_and_adds_no_event(pg_url: str) -> None:
    stores = [await create_sql_store(pg_url) for _ in range(2)]
    try:
        orders = [new_order(i=i) for i in range(6)]
        await asyncio.gather(*(stores[0].create(o, o.start()) for o in orders))
        stale = await stores[1].get(orders[2].id)
        await stores[1].append(stale, stale.apply(payload_for(S.ROUTING), ts_ms=T0 + 1))

        events = [o.apply(payload_for(S.ROUTING), ts_ms=T0 + 2) for o in orders]
        results = await asyncio.gather(
            *(stores[0].append(o, e) for o, e in zip(orders, events, strict=True)),
            return_exceptions=True,
        )
        assert isinstance(results[2], ConcurrentUpdateError)
        assert [r for i, r in enumerate(results) if i != 2] == [None] * 5
        # the stale order keeps the other store's event only; the rest got theirs
        assert [e.ts_ms for e in await stores[0].events(orders[2].id, after=1)] == [T0 + 1]
        for i, order in enumerate(orders):
            if i != 2:
                assert await stores[0].events(order.id, after=1) == [events[i]]
                assert (await stores[0].get(order.id)).seq == 2
    finally:
        for store in stores:
            await store.close()


class DeadlockOnceRunner(AsyncRunner):
    """PostgreSQL picks this process's batch as the victim of a lock cycle, once (the batch
    goes straight to asyncpg as one statement; its replay, write by write, through
    SQLAlchemy)."""

    deadlocks = 0

    async def execute_one(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        if self.deadlocks == 0:
            self.deadlocks += 1
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return await super().execute_one(statement, params)


async def test_a_deadlocked_batch_is_retried_write_by_write(pg_url: str) -> None:
    engine: AsyncEngine = create_engine(pg_url)
    await migrate(engine)
    runner = DeadlockOnceRunner(engine)
    store = SqlOrderStore(engine, runner=runner)
    orders = [new_order(i=i) for i in range(5)]
    try:
        await asyncio.gather(*(store.create(o, o.start()) for o in orders))
        assert runner.deadlocks == 1
        assert [await store.get(o.id) for o in orders] == orders
    finally:
        await store.close()
