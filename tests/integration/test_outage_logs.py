"""A PostgreSQL outage, as the store sees it (a TCP proxy that goes down and comes back):
every call answers `DependencyUnavailableError` and nothing in the logs carries a
traceback; the store works again once the server is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url

from order_engine.adapters.sql import create_sql_store
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.orders import Order
from tests.pgdb import fresh_database


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class TcpOutage:
    """A TCP proxy to `host:port` that can drop every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self._target, self.port = (host, port), 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._writers.clear()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def test_a_postgres_outage_logs_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with fresh_database("oe_outage") as url:
        server = make_url(url)
        outage = TcpOutage(server.host or "127.0.0.1", server.port or 5432)
        await outage.up()
        proxied = server.set(host="127.0.0.1", port=outage.port)
        store = await create_sql_store(proxied.render_as_string(hide_password=False))
        try:
            order = Order(str(uuid.uuid4()), "SOL", "USDC", Decimal("1.5"), 50, 1)
            await store.create(order, order.start())
            await outage.down()
            for _ in range(5):
                with pytest.raises(DependencyUnavailableError):
                    await store.get(order.id)
            await outage.up()
            for _ in range(50):  # the pool's dead connections are replaced
                with contextlib.suppress(DependencyUnavailableError):
                    assert (await store.get(order.id)).id == order.id
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the store did not come back")
        finally:
            await store.close()
            await outage.down()
    with_traceback = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert with_traceback == [], [(r.name, r.getMessage()) for r in with_traceback]
    assert "Traceback" not in caplog.text
