"""The store's statements keep finding orders by their key however large the `orders`
table grows after the statements were first run.

PostgreSQL caches a prepared statement's generic plan after five runs, costed for the
table as it was then. A batch update prepared while the table was small was planned as a
hash join over a scan of the whole table and kept that plan as the table grew: every group
commit read every order (found with `make bench-production`: a sequential scan of `orders`
per statement, reading its whole size each time)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from order_engine.adapters.sql import SqlOrderStore, create_sql_store
from order_engine.adapters.sql.direct import asyncpg_dsn
from order_engine.domain.orders import Order, OrderStatus
from tests.event_samples import payload_for
from tests.pgdb import fresh_database

T0 = 1_700_000_000_000
FILLER = 20_000  # orders added after the statements' plans were cached


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


async def rows_scanned(dsn: str) -> int:
    """Rows of `orders` read by sequential scans so far (the stats of ended sessions)."""
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval(
            "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'orders'"
        )
        return int(found)
    finally:
        await conn.close()


async def add_filler(dsn: str, count: int) -> None:
    """`count` more orders, copies of one stored order under new ids."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'orders' ORDER BY ordinal_position"
            )
        ]
        copied = ", ".join("gen_random_uuid()::text" if c == "id" else c for c in columns)
        await conn.execute(
            f"INSERT INTO orders ({', '.join(columns)}) "
            f"SELECT {copied} FROM orders, generate_series(1, $1) LIMIT $1",
            count,
        )
    finally:
        await conn.close()


async def update_one_by_one(store: SqlOrderStore, orders: list[Order]) -> None:
    """Each order's next status alone, in turn: one statement each, on one connection
    (the pool hands back the connection it just got), so its plan gets cached."""
    for order in orders:
        await store.append(order, order.apply(payload_for(OrderStatus.ROUTING), ts_ms=T0 + 5))


async def test_updates_find_orders_by_key_after_the_table_grew(pg_url: str) -> None:
    dsn = asyncpg_dsn(make_url(pg_url))
    orders = [Order(str(uuid.uuid4()), "SOL", "USDC", Decimal(1), 50, T0 + i) for i in range(40)]
    store = await create_sql_store(pg_url)
    try:
        await asyncio.gather(*(store.create(o, o.start()) for o in orders))
        await update_one_by_one(store, orders[:20])  # planned on a table of 40 orders
        await add_filler(dsn, FILLER)
        await update_one_by_one(store, orders[20:])
        assert [(await store.get(o.id)).status for o in orders] == [OrderStatus.ROUTING] * 40
    finally:
        await store.close()  # its sessions end: their statistics are written
    await asyncio.sleep(0.5)
    scanned = await rows_scanned(dsn)
    # the first updates may scan the 40-order table (the cheapest plan for it); after the
    # filler, a scan per update would read 20 x 20,000 rows
    assert scanned < FILLER, f"{scanned} rows of orders read by sequential scans"
