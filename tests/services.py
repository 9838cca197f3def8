"""Real services for integration tests: the URL when the service answers, else a skip with
the reason (or a failure when `CI_REQUIRE_SERVICES=1`, so CI always runs those tests)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from order_engine.adapters.redis_client import redis_client

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def require_postgres_url() -> str:
    """`TEST_DATABASE_URL` (default: the local server's `postgres` database)."""
    return _require("PostgreSQL", "TEST_DATABASE_URL", DEFAULT_POSTGRES_URL, 5432)


def require_redis_url() -> str:
    """`TEST_REDIS_URL` (default: the local server, database 0)."""
    return _require("Redis", "TEST_REDIS_URL", DEFAULT_REDIS_URL, 6379)


def _require(service: str, variable: str, default: str, default_port: int) -> str:
    url = os.environ.get(variable) or default
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError as exc:
        reason = f"{service} is not reachable at {host}:{port} ({variable}): {exc}"
        if os.environ.get("CI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CI_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(reason)
    return url


async def delete_prefixed_keys(url: str, prefix: str) -> None:
    """Remove every key a test wrote under `prefix:` on the Redis at `url`."""
    client = redis_client(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
