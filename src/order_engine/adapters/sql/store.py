"""`SqlOrderStore`: orders and event logs in SQLite or PostgreSQL via SQLAlchemy Core.

Writes go through one group-commit writer (SQLite has a single writer; batching turns
thousands of small transactions into a few large ones); reads run beside it.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from order_engine.adapters.cursor import check_limit, decode_cursor, encode_cursor
from order_engine.adapters.sql import queries as q
from order_engine.adapters.sql.codec import (
    event_to_row,
    mutable_values,
    order_to_row,
    row_to_event,
    row_to_order,
)
from order_engine.adapters.sql.engines import create_engine
from order_engine.adapters.sql.errors import database_errors
from order_engine.adapters.sql.runner import SqlRunner, runner_for
from order_engine.adapters.sql.schema import ensure_migrated
from order_engine.adapters.sql.schema import migrate as migrate_schema
from order_engine.adapters.sql.tables import order_events, orders
from order_engine.adapters.sql.writer import GroupCommitWriter, Kind, Write
from order_engine.domain.errors import DependencyUnavailableError, OrderNotFoundError
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.engine.ports import Changes, Page


class SqlOrderStore:
    """`runner` defaults to the fastest one for the engine's database (see `runner.py`)."""

    def __init__(self, engine: AsyncEngine, *, runner: SqlRunner | None = None) -> None:
        self._engine = engine
        self._runner = runner if runner is not None else runner_for(engine)
        self._writer = GroupCommitWriter(self._runner)
        self._closed = False

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def create(self, order: Order, event: OrderEvent) -> None:
        row, event_row = order_to_row(order), event_to_row(event)
        write = Write(Kind.CREATE, order.id, row, event_row, idempotency_key=order.idempotency_key)
        await self._write(write)
        order.wallet = write.wallet  # who pays, as the INSERT recorded it

    async def append(self, order: Order, event: OrderEvent) -> None:
        row, event_row = mutable_values(order), event_to_row(event)
        await self._write(Write(Kind.APPEND, order.id, row, event_row, event.seq - 1))

    async def save_details(self, order: Order) -> None:
        row = mutable_values(order)
        await self._write(Write(Kind.DETAILS, order.id, row, expected_seq=order.seq))

    async def discard(self, order_id: str) -> bool:
        if self._closed:
            raise DependencyUnavailableError("order store is closed")

        def work(conn: Connection) -> bool:
            first_only = (orders.c.id == order_id) & (orders.c.seq == 1)
            if conn.execute(select(orders.c.id).where(first_only)).first() is None:
                return False
            conn.execute(delete(order_events).where(order_events.c.order_id == order_id))
            return bool(conn.execute(delete(orders).where(first_only)).rowcount)

        with database_errors():
            return await self._runner.write(work)

    async def get(self, order_id: str) -> Order:
        found = await self._read_orders(q.GET_ORDER, {"order_id": order_id})
        if not found:
            raise OrderNotFoundError(f"order {order_id} not found")
        return found[0]

    async def find_by_idempotency_key(self, key: str) -> Order | None:
        found = await self._read_orders(q.ORDER_BY_KEY, {"key": key})
        return found[0] if found else None

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> Page:
        check_limit(limit)
        params: dict[str, Any] = {"limit": limit + 1}
        if status is not None:
            params["status"] = status.value
        if cursor is not None:
            params["cursor_ms"], params["cursor_id"] = decode_cursor(cursor)
        if user_id is not None:
            params["user_id"] = user_id
        if account_id is not None:
            params["account_id"] = account_id
        used = (status is not None, cursor is not None, user_id is not None)
        query = q.LIST_ORDERS[(*used, account_id is not None)]
        found = await self._read_orders(query, params)
        page = found[:limit]
        more = len(found) > limit
        next_cursor = encode_cursor(page[-1].created_ms, page[-1].id) if more else None
        return Page(page, next_cursor)

    async def events(self, order_id: str, after: int = 0) -> builtins.list[OrderEvent]:
        rows = await self._read(q.EVENTS_AFTER, {"order_id": order_id, "after": after})
        return [row_to_event(r) for r in rows]

    async def latest_seqs(self, order_ids: builtins.list[str]) -> dict[str, int]:
        latest: dict[str, int] = {}
        for start in range(0, len(order_ids), q.LATEST_SEQS_CHUNK):
            chunk = order_ids[start : start + q.LATEST_SEQS_CHUNK]
            rows = await self._read(q.LATEST_SEQS, {"ids": chunk})
            latest.update((r["id"], int(r["seq"])) for r in rows)
        return latest

    async def changes(self, cursor: int | None) -> Changes:
        if cursor is None:
            return Changes(int((await self._read(q.HORIZON))[0]["horizon"]), {})
        rows = await self._read(q.CHANGES, {"cursor": cursor})
        horizon = next(r["horizon"] for r in rows if r["id"] is None)
        return Changes(int(horizon), {r["id"]: int(r["seq"]) for r in rows if r["id"] is not None})

    async def count_open(self, account_id: str) -> int:
        rows = await self._read(q.COUNT_OPEN, {"account_id": account_id})
        return int(rows[0]["n"])

    async def unfinished(self, limit: int = 1000) -> builtins.list[str]:
        return [r["id"] for r in await self._read(q.UNFINISHED, {"limit": limit})]

    async def waiting(
        self, token_in: str, token_out: str, limit: int = 1000, after: tuple[int, str] | None = None
    ) -> builtins.list[Order]:
        params: dict[str, Any] = {"token_in": token_in, "token_out": token_out, "limit": limit}
        if after is not None:
            params["after_ms"], params["after_id"] = after
        return await self._read_orders(q.WAITING_FOR_PAIR[after is not None], params)

    async def waiting_pairs(self) -> builtins.list[tuple[str, str]]:
        return [(r["token_in"], r["token_out"]) for r in await self._read(q.WAITING_PAIRS)]

    async def count(self) -> int:
        """How many orders are stored (for metrics and tests)."""
        rows = await self._read(q.COUNT_ORDERS)
        return int(rows[0]["n"])

    async def ping(self) -> None:
        await self._read(q.PING)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        await self._runner.close()
        await self._engine.dispose()

    async def _write(self, write: Write) -> None:
        if self._closed:
            raise DependencyUnavailableError("order store is closed")
        await self._writer.submit(write)

    async def _read_orders(
        self, query: Select[Any], params: dict[str, Any]
    ) -> builtins.list[Order]:
        return [row_to_order(r) for r in await self._read(query, params)]

    async def _read(
        self, query: Select[Any], params: dict[str, Any] | None = None
    ) -> builtins.list[Any]:
        if self._closed:
            raise DependencyUnavailableError("order store is closed")

        with database_errors():
            return await self._runner.fetch(query, params)


async def create_sql_store(
    url: str, *, migrate: bool = True, require_migrated: bool = False
) -> SqlOrderStore:
    """A ready store for `url` (`sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`).
    `migrate` upgrades the schema first; `require_migrated` instead refuses a database that
    is not at the newest revision (`UnmigratedDatabaseError`)."""
    engine = create_engine(url)
    try:
        if migrate:
            await migrate_schema(engine)
        elif require_migrated:
            await ensure_migrated(engine)
        return SqlOrderStore(engine)
    except BaseException:
        await engine.dispose()
        raise
