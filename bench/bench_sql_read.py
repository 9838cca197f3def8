"""The client CPU of one point read of an order: through SQLAlchemy's execution (what the
store's reads did until 2026-12-04), through the store's read as it is (the statement
compiled once by SQLAlchemy, run on asyncpg: `adapters/sql/direct.py`), and a `SELECT *` by
id on asyncpg alone. Creates a throwaway database
on the PostgreSQL server at `--url`, reads a missing id `--reads` times each way (after a
warm-up), prints microseconds of CPU and wall time per read, and drops the database.

    .venv/bin/python -m bench.bench_sql_read [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from order_engine.adapters.sql import queries
from order_engine.adapters.sql.runner import fetch_rows
from order_engine.adapters.sql.store import create_sql_store

WARM_UP = 200
BY_ID = "SELECT * FROM orders WHERE id = $1"


async def per_read_us(read: Callable[[], Awaitable[Any]], reads: int) -> tuple[float, float]:
    for _ in range(WARM_UP):
        await read()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reads):
        await read()
    return 1e6 * (time.process_time() - cpu) / reads, 1e6 * (time.perf_counter() - wall) / reads


async def run(url: str, reads: int) -> None:
    name = f"oe_bench_read_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = url.rsplit("/", 1)[0] + "/" + name
    try:
        store = await create_sql_store(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            params = {"order_id": "missing"}
            ways: dict[str, Callable[[], Awaitable[Any]]] = {
                "SQLAlchemy execution": lambda: store._runner.read(
                    fetch_rows(queries.GET_ORDER, params)
                ),
                "the store's read (compiled, asyncpg)": lambda: store._read(
                    queries.GET_ORDER, params
                ),
                "asyncpg alone": lambda: conn.fetch(BY_ID, "missing"),
            }
            for label, read in ways.items():
                cpu_us, wall_us = await per_read_us(read, reads)
                print(f"{label:<38} {cpu_us:6.0f} us CPU, {wall_us:6.0f} us wall per read")
        finally:
            await conn.close()
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.reads))


if __name__ == "__main__":
    main()
