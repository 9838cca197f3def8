"""Fixtures that build every `OrderStore` implementation for the contract suite.

A backend is one entry in `STORE_FACTORIES`: a factory gets the test's temporary folder and
an exit stack for its own cleanup (run after the store is closed). Backends on a server
skip when it is unreachable (fail under `CI_REQUIRE_SERVICES=1`, see `tests/services.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.sql import SqlOrderStore, create_engine, create_sql_store, migrate
from order_engine.adapters.sql.runner import AsyncRunner
from order_engine.engine.ports import OrderStore
from tests.localnet_helpers import Rpc, localnet
from tests.pgdb import fresh_database

StoreFactory = Callable[[Path, AsyncExitStack], Awaitable[OrderStore]]


async def memory_store(_tmp_path: Path, _stack: AsyncExitStack) -> OrderStore:
    return InMemoryOrderStore(InMemoryAccountStore())  # accounts: it records who pays


async def sqlite_store(tmp_path: Path, _stack: AsyncExitStack) -> OrderStore:
    return await create_sql_store(f"sqlite+aiosqlite:///{tmp_path}/db/orders.db")


async def sqlite_async_store(tmp_path: Path, _stack: AsyncExitStack) -> OrderStore:
    """SQLite through the async-driver runner PostgreSQL uses, and without executemany row
    counts (the row-by-row update fallback for such drivers), without a server."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await migrate(engine)
    engine.dialect.supports_sane_multi_rowcount = False
    return SqlOrderStore(engine, runner=AsyncRunner(engine))


async def postgresql_store(_tmp_path: Path, stack: AsyncExitStack) -> OrderStore:
    """A migrated store on a database of its own (`TEST_DATABASE_URL`'s server)."""
    url = await stack.enter_async_context(fresh_database())
    return await create_sql_store(url)


STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "sqlite-async": sqlite_async_store,
    "postgresql": postgresql_store,
}


@pytest.fixture(params=list(STORE_FACTORIES))
async def order_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OrderStore]:
    async with AsyncExitStack() as stack:
        store = await STORE_FACTORIES[request.param](tmp_path, stack)
        stack.push_async_callback(store.close)
        yield store


@pytest.fixture
async def rpc(tmp_path: Path) -> AsyncIterator[Rpc]:
    """`order-engine localnet` in the test's event loop, with a JSON-RPC client."""
    async with localnet(tmp_path) as running:
        yield running
