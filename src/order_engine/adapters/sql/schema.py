"""Alembic migrations, run programmatically on an async engine (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql.errors import database_errors

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest revision (a no-op when it is already there)."""
    with database_errors():
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, alembic_config())


async def is_at_head(engine: AsyncEngine) -> bool:
    """Whether the database carries every migration this code knows."""
    config = alembic_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with database_errors():
        async with engine.connect() as conn:
            current = await conn.run_sync(_current_heads)
    return current == heads


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
