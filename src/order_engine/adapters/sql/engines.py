"""Async engines for the store: SQLite files, or a server shared by several processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Every session plans each statement for its own values and the tables as they are now.
# PostgreSQL's default caches a prepared statement's generic plan after five runs, costed
# for the tables as they were then: a batch update prepared while `orders` was small kept
# a plan that scans the whole table, and read every order at every group commit as the
# table grew (`tests/integration/test_postgres_plans.py`). Planning costs ~30 us a
# statement; the engine's statements are few per order and all reach rows by an index.
SERVER_SETTINGS = {"application_name": "order-engine", "plan_cache_mode": "force_custom_plan"}

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


# What `create_engine` gave asyncpg's connect, for connections opened beside the engine's
# pool (`direct.py`): the same timeout and session settings.
_ASYNCPG_CONNECT_ARGS: WeakKeyDictionary[Engine, dict[str, Any]] = WeakKeyDictionary()


def asyncpg_connect_args(engine: AsyncEngine) -> dict[str, Any]:
    return dict(_ASYNCPG_CONNECT_ARGS.get(engine.sync_engine, {}))


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 5,
    pool_timeout_s: float = 10.0,
    connect_timeout_s: float = 5.0,
    pre_ping: bool = False,
) -> AsyncEngine:
    """An async engine for `url`. SQLite files get their folder and WAL pragmas. A server
    gets a bounded pool (several processes share its `max_connections`) and a connect
    timeout. A pooled asyncpg connection the server closed (restart, terminated backend)
    is replaced at checkout for free; `pre_ping` adds a round-trip check per checkout
    (BEGIN, ping, ROLLBACK on asyncpg: it halved read throughput, so it is off)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() == "asyncpg":
        connect_args = {
            "timeout": connect_timeout_s,
            "server_settings": dict(SERVER_SETTINGS),
        }
    engine = create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_recycle=1800,
        pool_pre_ping=pre_ping,
        connect_args=connect_args,
    )
    if parsed.get_driver_name() == "asyncpg":
        event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
        _ASYNCPG_CONNECT_ARGS[engine.sync_engine] = connect_args
    return engine


def _sqlite_engine(url: URL) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", set_sqlite_pragmas)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """asyncpg notices the server closing an idle connection; the pool then discards it
    and checks out (or opens) another."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("pooled connection was closed by the server")
