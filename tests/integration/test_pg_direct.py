"""Statements straight on asyncpg (`adapters/sql/direct.py`) and their lean connection pool
(`adapters/sql/pg_pool.py`), on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

from order_engine.adapters.metrics import SqlStatementCount
from order_engine.adapters.sql import create_sql_store
from order_engine.adapters.sql import queries as q
from order_engine.adapters.sql.direct import DirectStatementCount, asyncpg_dsn, compile_direct
from order_engine.adapters.sql.pg_pool import PgConnectionPool
from order_engine.domain.legs import Leg
from order_engine.domain.orders import Order, OrderStatus
from tests.event_samples import payload_for
from tests.pgdb import fresh_database

T0 = 1_700_000_000_000


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


def connector(
    url: str, opened: list[asyncpg.Connection], max_idle_s: float = 300.0
) -> PgConnectionPool:
    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(asyncpg_dsn(make_url(url)), timeout=5)
        opened.append(conn)
        return conn

    return PgConnectionPool(connect, max_size=3, max_idle_s=max_idle_s)


def test_statements_compile_once_with_their_own_bound_values() -> None:
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    waiting = compile_direct(q.WAITING_FOR_PAIR[True], dialect)
    assert waiting is not None
    # `status = 'waiting'` is the statement's own value; `after_ms` appears twice, bound once
    assert waiting.names == ("status_1", "token_in", "token_out", "after_ms", "after_id", "limit")
    args = waiting.args(
        {"token_in": "SOL", "token_out": "USDC", "after_ms": 5, "after_id": "x", "limit": 9}
    )
    assert args == ["waiting", "SOL", "USDC", 5, "x", 9]
    assert compile_direct(q.LATEST_SEQS, dialect) is None  # an expanding IN: SQLAlchemy's


async def test_pool_queues_callers_beyond_its_size_and_reuses_connections(pg_url: str) -> None:
    opened: list[asyncpg.Connection] = []
    pool = connector(pg_url, opened)
    try:
        results = await asyncio.gather(
            *(pool.fetch("SELECT $1::int AS n, pg_sleep(0.02)", [i]) for i in range(12))
        )
        assert [r[0]["n"] for r in results] == list(range(12))
        assert len(opened) == 3 and pool.open_connections == 3
        await pool.fetch("SELECT 1", [])
        assert len(opened) == 3  # an idle one served it
    finally:
        await pool.close()
    assert all(conn.is_closed() for conn in opened)


async def test_a_connection_idle_too_long_is_closed_instead_of_used(pg_url: str) -> None:
    opened: list[asyncpg.Connection] = []
    pool = connector(pg_url, opened, max_idle_s=0.05)
    try:
        await pool.fetch("SELECT 1", [])
        await pool.fetch("SELECT 1", [])  # at once: the same one
        assert len(opened) == 1
        await asyncio.sleep(0.1)
        assert (await pool.fetch("SELECT 2 AS n", []))[0]["n"] == 2
        assert len(opened) == 2 and opened[0].is_closed() and pool.open_connections == 1
    finally:
        await pool.close()


async def test_a_cancelled_statement_never_hands_its_connection_on(pg_url: str) -> None:
    opened: list[asyncpg.Connection] = []
    pool = connector(pg_url, opened)
    try:
        slow = asyncio.ensure_future(pool.fetch("SELECT pg_sleep(5)", []))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert opened[0].is_closed() and pool.open_connections == 0
        assert (await pool.fetch("SELECT 7 AS n", []))[0]["n"] == 7
        assert len(opened) == 2
    finally:
        await pool.close()


async def test_a_failed_statement_frees_its_place_for_waiting_callers(pg_url: str) -> None:
    opened: list[asyncpg.Connection] = []
    pool = connector(pg_url, opened)
    try:
        calls = [pool.fetch("SELECT 1/0", []) for _ in range(3)]
        calls += [pool.fetch("SELECT $1::int AS n", [i]) for i in range(5)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, asyncpg.DivisionByZeroError) for r in results[:3])
        assert [r[0]["n"] for r in results[3:]] == list(range(5))  # type: ignore[index]
        assert pool.open_connections <= 3
        assert not any(conn.is_closed() for conn in opened)  # a refused statement: kept
    finally:
        await pool.close()


async def test_the_store_reads_orders_and_events_back_exactly_on_asyncpg(pg_url: str) -> None:
    store = await create_sql_store(pg_url)
    order = Order("direct-1", "SOL", "USDC", Decimal("1.500000001"), 50, T0)
    try:
        started = order.start()
        await store.create(order, started)
        routed = order.apply(payload_for(OrderStatus.ROUTING), ts_ms=T0 + 1)
        await store.append(order, routed)
        order.legs = [Leg("raydium", "sig", Decimal("1.5"), Decimal("210.000000001"), 1)]
        await store.save_details(order)
        counted = next(iter(SqlStatementCount().collect())).samples[0].value
        direct = DirectStatementCount.count

        assert await store.get(order.id) == order  # Decimals, JSON legs, ints, strings
        assert await store.events(order.id) == [started, routed]
        assert await store.events(order.id, after=1) == [routed]
        assert DirectStatementCount.count == direct + 3
        assert next(iter(SqlStatementCount().collect())).samples[0].value >= counted + 3
    finally:
        await store.close()
