"""The SQL store when PostgreSQL is unreachable, silent, missing, or drops connections:
`DependencyUnavailableError` at once (never a hang, never the driver's text), then recovery."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from order_engine.adapters.sql import (
    SqlOrderStore,
    create_engine,
    create_sql_store,
    ensure_migrated,
)
from order_engine.adapters.sql.errors import MISSING_DATABASE, WHY_UNAVAILABLE
from order_engine.bootstrap import migrate_database
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import Order, OrderStatus
from order_engine.settings import Settings
from tests.event_samples import payload_for
from tests.pgdb import admin_dsn, fresh_database

T0 = 1_700_000_000_000
DRIVER_WORDS = ("refused", "connect call", "errno", "asyncpg", "timeout", "does not exist")


def new_order() -> Order:
    return Order(str(uuid.uuid4()), "SOL", "USDC", Decimal("1.5"), 50, T0)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def assert_no_driver_text(error: BaseException, message: str = "database unavailable") -> None:
    assert str(error) == message
    assert not any(word in str(error).lower() for word in DRIVER_WORDS)
    assert error.__cause__ is not None  # the detail stays in the chain, for logs


async def test_closed_port_is_unavailable_at_once_without_driver_text() -> None:
    url = f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{closed_port()}/orders"
    started = time.monotonic()
    with pytest.raises(DependencyUnavailableError) as caught:
        await create_sql_store(url)
    assert_no_driver_text(caught.value)

    store = await create_sql_store(url, migrate=False)
    order = new_order()
    try:
        for call in (
            lambda: store.create(order, order.start()),
            lambda: store.get(order.id),
            lambda: store.list(status=None, limit=5, cursor=None),
            lambda: store.events(order.id),
            store.ping,
            lambda: ensure_migrated(store.engine),
        ):
            with pytest.raises(DependencyUnavailableError) as caught:
                await call()
            assert_no_driver_text(caught.value)
    finally:
        await store.close()
    assert time.monotonic() - started < 5


async def test_a_server_that_never_answers_times_out() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/orders"
    store = SqlOrderStore(create_engine(url, connect_timeout_s=0.2))
    started = time.monotonic()
    try:
        with pytest.raises(DependencyUnavailableError) as caught:
            await store.ping()
        assert_no_driver_text(caught.value)
        assert time.monotonic() - started < 3
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_missing_database_is_told_apart_from_an_unreachable_server(pg_url: str) -> None:
    url = make_url(pg_url).set(database=f"oe_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(DependencyUnavailableError) as caught:
        await create_sql_store(url.render_as_string(hide_password=False))
    assert_no_driver_text(caught.value, WHY_UNAVAILABLE[MISSING_DATABASE])
    assert "`order-engine migrate` creates it" in str(caught.value)


async def test_migrate_creates_a_missing_database_once(pg_url: str) -> None:
    name = f"oe_created_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, _env_file=None)
    admin = await asyncpg.connect(admin_dsn(make_url(pg_url)), timeout=5)
    try:
        assert (await migrate_database(settings)).endswith(f"/{name} (created now)")
        assert (await migrate_database(settings)).endswith(f"/{name}")  # there: migrated only
        store = await create_sql_store(url)  # at the newest schema
        await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_connections_closed_by_the_server_are_replaced(pg_url: str) -> None:
    store = await create_sql_store(pg_url)
    order = new_order()
    try:
        await store.create(order, order.start())
        await asyncio.gather(*(store.get(order.id) for _ in range(5)))  # several pooled
        assert await terminate_backends(pg_url) >= 1
        await asyncio.sleep(0.05)  # let the client see the sockets close

        assert await store.get(order.id) == order
        await store.append(order, order.apply(payload_for(OrderStatus.ROUTING), ts_ms=T0 + 1))
        assert (await store.get(order.id)).seq == 2
    finally:
        await store.close()


async def terminate_backends(url: str) -> int:
    """End every server session the store holds, as a server restart would."""
    parsed = make_url(url)
    admin = await asyncpg.connect(admin_dsn(parsed), timeout=5)
    try:
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = 'order-engine'",
            parsed.database,
        )
    finally:
        await admin.close()
    return killed
