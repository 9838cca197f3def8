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
from tests.tcp_outage import TcpOutage


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
