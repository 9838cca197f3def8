"""Alembic environment: uses the connection handed in by `schema.migrate`, or, when run
from the alembic command line, an async engine for `sqlalchemy.url` / `DATABASE_URL`."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from order_engine.adapters.sql.schema import lock_migrations
from order_engine.adapters.sql.tables import metadata

config = context.config


def run_with(connection: Connection) -> None:
    """Migrate on `connection`, which is in the transaction that will commit the upgrade
    (so the migration lock is held until then)."""
    lock_migrations(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set DATABASE_URL or sqlalchemy.url to run migrations")
    return url


async def run_from_url() -> None:
    engine = create_async_engine(database_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_with)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


passed_in = config.attributes.get("connection")
if context.is_offline_mode():
    run_offline()
elif passed_in is not None:
    run_with(passed_in)
else:
    asyncio.run(run_from_url())
