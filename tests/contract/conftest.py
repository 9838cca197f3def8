"""Fixtures that build every `OrderStore` implementation for the contract suite.

A backend is one entry in `STORE_FACTORIES`: add PostgreSQL by adding a factory (that
skips when no server is configured) and its name to the list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.sql import SqlOrderStore, create_engine, create_sql_store, migrate
from order_engine.adapters.sql.runner import AsyncRunner
from order_engine.engine.ports import OrderStore

StoreFactory = Callable[[Path], Awaitable[OrderStore]]


async def memory_store(_tmp_path: Path) -> OrderStore:
    return InMemoryOrderStore()


async def sqlite_store(tmp_path: Path) -> OrderStore:
    return await create_sql_store(f"sqlite+aiosqlite:///{tmp_path}/db/orders.db")


async def sqlite_async_store(tmp_path: Path) -> OrderStore:
    """SQLite through the async-driver runner PostgreSQL uses, and, like asyncpg, without
    executemany row counts: the code path of the PostgreSQL store, without a server."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await migrate(engine)
    engine.dialect.supports_sane_multi_rowcount = False
    return SqlOrderStore(engine, runner=AsyncRunner(engine))


STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "sqlite-async": sqlite_async_store,
}


@pytest.fixture(params=list(STORE_FACTORIES))
async def order_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OrderStore]:
    store = await STORE_FACTORIES[request.param](tmp_path)
    try:
        yield store
    finally:
        await store.close()
