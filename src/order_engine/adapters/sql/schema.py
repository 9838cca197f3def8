"""Alembic migrations, run programmatically on an async engine (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, NullPool, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_engine.adapters.sql.errors import (
    DUPLICATE_DATABASE,
    MISSING_DATABASE,
    database_errors,
    sqlstate,
)
from order_engine.domain.errors import DependencyUnavailableError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Key of the PostgreSQL advisory lock that serialises migrations (any constant bigint).
MIGRATION_LOCK_KEY = 0x6F72_6465_725F_6D67  # "order_mg"


class UnmigratedDatabaseError(RuntimeError):
    """The database does not carry this code's schema; `order-engine migrate` fixes it."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def create_database_if_missing(engine: AsyncEngine) -> bool:
    """PostgreSQL: create `engine`'s database when the server has none of that name (through
    its `postgres` database); True if this call created it. SQLite creates its own file."""
    if engine.dialect.name != "postgresql":
        return False
    try:
        with database_errors():
            async with engine.connect():
                return False
    except DependencyUnavailableError as exc:
        if sqlstate(exc.__cause__ or exc) != MISSING_DATABASE:
            raise
    admin = create_async_engine(
        engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = engine.dialect.identifier_preparer.quote(engine.url.database or "")
    try:
        with database_errors():
            async with admin.connect() as conn:
                await conn.execute(text(f"CREATE DATABASE {name}"))
    except DependencyUnavailableError as exc:
        if sqlstate(exc.__cause__ or exc) != DUPLICATE_DATABASE:
            raise
        return False  # another migrate created it first
    finally:
        await admin.dispose()
    return True


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest revision (a no-op when it is already there).
    Safe when several processes migrate at once (see `lock_migrations`); within a process,
    upgrades take turns, as Alembic keeps the running migration in module globals."""
    async with _process_lock():
        with database_errors():
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade, alembic_config())


_PROCESS_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _PROCESS_LOCKS.get(loop)
    if lock is None:
        lock = _PROCESS_LOCKS[loop] = asyncio.Lock()
    return lock


async def is_at_head(engine: AsyncEngine) -> bool:
    """Whether the database carries every migration this code knows."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return await _current_revisions(engine) == heads


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Raise `UnmigratedDatabaseError` unless the database is at the newest revision
    (`DependencyUnavailableError` if it cannot be reached)."""
    script = ScriptDirectory.from_config(alembic_config())
    current = await _current_revisions(engine)
    if current == set(script.get_heads()):
        return
    where = printable_url(engine.url)
    unknown = current - {rev.revision for rev in script.walk_revisions()}
    if unknown:
        raise UnmigratedDatabaseError(
            f"the database at {where} has schema revision {', '.join(sorted(unknown))}, "
            "newer than this version of order-engine knows: upgrade order-engine"
        )
    raise UnmigratedDatabaseError(
        f"the database at {where} is not migrated: run `order-engine migrate`"
    )


def printable_url(url: URL) -> str:
    """`url` without its password or query (which may carry credentials)."""
    bare = URL.create(
        url.drivername, username=url.username, host=url.host, port=url.port, database=url.database
    )
    return bare.render_as_string(hide_password=False)


def lock_migrations(connection: Connection) -> None:
    """On PostgreSQL, wait for other processes' migrations and hold them off until this
    transaction ends: two processes upgrading at once would both create the tables. (No
    lock elsewhere: a SQLite file belongs to the one embedded process.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


async def _current_revisions(engine: AsyncEngine) -> set[str]:
    with database_errors():
        async with engine.connect() as conn:
            return await conn.run_sync(_current_heads)


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
