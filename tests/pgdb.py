"""A throwaway PostgreSQL database per test: created on the server `TEST_DATABASE_URL`
points at, dropped (even with sessions still open) afterwards."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

from tests.services import require_postgres_url


def admin_dsn(url: URL) -> str:
    """A plain libpq DSN (what asyncpg takes) for the server's maintenance database."""
    return url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


@asynccontextmanager
async def fresh_database(prefix: str = "oe_test") -> AsyncIterator[str]:
    """Yield the SQLAlchemy URL of a new, empty database; skips when no server answers."""
    server = make_url(require_postgres_url())
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_dsn(server), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
