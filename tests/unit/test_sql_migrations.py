"""Migrations run programmatically, are idempotent and match the Core tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from order_engine.adapters.sql import create_engine, create_sql_store, is_at_head, migrate
from order_engine.adapters.sql.tables import metadata


def schema_of(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    return {
        "tables": sorted(inspector.get_table_names()),
        "indexes": sorted(ix["name"] or "" for ix in inspector.get_indexes("orders")),
    }


def drift(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def test_migrating_twice_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    try:
        assert not await is_at_head(engine)
        await migrate(engine)
        assert await is_at_head(engine)
        async with engine.connect() as conn:
            first = await conn.run_sync(schema_of)

        await migrate(engine)
        assert await is_at_head(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(schema_of) == first
    finally:
        await engine.dispose()
    assert first["tables"] == [
        "accounts",
        "alembic_version",
        "api_keys",
        "change_clock",
        "engine_secrets",
        "order_events",
        "orders",
    ]
    assert first["indexes"] == [
        "ix_orders_account_created", "ix_orders_account_status", "ix_orders_change_no",
        "ix_orders_created", "ix_orders_status_created", "ix_orders_user_created",
    ]  # fmt: skip


async def test_migrated_schema_matches_the_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(drift) == []
    finally:
        await engine.dispose()


async def test_store_without_migrate_leaves_database_unmigrated(tmp_path: Path) -> None:
    store = await create_sql_store(f"sqlite+aiosqlite:///{tmp_path}/raw.db", migrate=False)
    try:
        assert not await is_at_head(store.engine)
    finally:
        await store.close()
