"""Where the store's SQL runs. Every query is one synchronous SQLAlchemy Core function over
a `Connection`; a runner decides how that function reaches the database:

- `AsyncRunner` (PostgreSQL, any async driver): the function in SQLAlchemy's greenlet, as
  `AsyncConnection.run_sync` runs it; reads in autocommit. On asyncpg, `fetch` of a single
  statement skips SQLAlchemy's execution: compiled once, run on asyncpg (`direct.py`).
- `SqliteRunner` (SQLite files): the same function on pysqlite connections. aiosqlite makes
  3-4 thread hops per statement, and a hop costs ~100 us of CPU on these machines. Writes
  run in one writer thread, a whole group-commit transaction per hop (SQLite has one
  writer). Reads run inline on the event loop's own connection: a WAL reader never waits
  for the writer, and a point query costs ~80 us, less than the hop to a thread would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Dialect, Engine, NullPool, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select
from sqlalchemy.util import greenlet_spawn

from order_engine.adapters.sql.direct import DirectStatements
from order_engine.adapters.sql.engines import asyncpg_connect_args, set_sqlite_pragmas

T = TypeVar("T")
Work = Callable[[Connection], T]


class SqlRunner(Protocol):
    async def write(self, work: Work[T]) -> T:
        """Run `work` in a transaction that commits if it returns."""
        ...

    async def read(self, work: Work[T]) -> T: ...

    async def fetch(
        self, statement: Select[Any], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """The rows of one read-only statement, as mappings (autocommit)."""
        ...

    async def execute_one(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        """Run one statement that writes, committed on its own; its rows."""
        ...

    @property
    def dialect(self) -> Dialect: ...

    async def close(self) -> None: ...


def fetch_rows(statement: Select[Any], params: Mapping[str, Any] | None) -> Work[list[Any]]:
    """`statement`'s rows as mappings, as work for a runner's `read` or `write`."""

    def fetch(conn: Connection) -> list[Any]:
        return list(conn.execute(statement, params).mappings())

    return fetch


def is_sqlite_memory(engine: AsyncEngine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "sqlite" and (not database or database == ":memory:")


def runner_for(engine: AsyncEngine) -> SqlRunner:
    """The fastest runner for `engine`'s database."""
    if engine.dialect.name != "sqlite":
        return AsyncRunner(engine)
    if is_sqlite_memory(engine):
        raise ValueError("in-memory SQLite is not supported: use a file or the memory store")
    return SqliteRunner(engine)


class AsyncRunner:
    """Each call is one hop into SQLAlchemy's greenlet (checkout, work, commit and checkin
    together; `AsyncConnection` makes one hop per step, ~100 us of CPU each here). Reads
    run in autocommit, each statement its own snapshot: on asyncpg that saves the BEGIN and
    ROLLBACK round trips."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self._reader = engine.sync_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._direct: DirectStatements | None = None
        if engine.url.get_driver_name() == "asyncpg":
            size = getattr(engine.pool, "size", lambda: 10)()
            connect_args = asyncpg_connect_args(engine)
            self._direct = DirectStatements(
                engine.url, engine.dialect, max_size=size, connect_args=connect_args
            )

    async def write(self, work: Work[T]) -> T:
        return await greenlet_spawn(self._write, work)

    async def read(self, work: Work[T]) -> T:
        return await greenlet_spawn(self._read, work)

    async def fetch(
        self, statement: Select[Any], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        return await self._run(statement, params, self.read)

    async def execute_one(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        return await self._run(statement, params, self.write)  # direct: autocommit, own commit

    async def _run(
        self,
        statement: Select[Any],
        params: Mapping[str, Any] | None,
        through_sqlalchemy: Callable[[Work[list[Any]]], Awaitable[list[Any]]],
    ) -> list[Any]:
        direct = None if self._direct is None else self._direct.compiled(statement)
        if direct is None or self._direct is None:  # not on asyncpg, or an IN list
            return await through_sqlalchemy(fetch_rows(statement, params))
        return list(await self._direct.fetch(direct, params))

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.close()

    def _write(self, work: Work[T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    def _read(self, work: Work[T]) -> T:
        with self._reader.connect() as conn:
            return work(conn)


class SqliteRunner:
    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="sqlite+pysqlite")
        self._sync: Engine = create_engine(url, poolclass=NullPool)
        event.listen(self._sync, "connect", set_sqlite_pragmas)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="order-store-writer")
        self._local = threading.local()  # one connection per thread (loop and writer)
        self._connections: list[Connection] = []
        self._lock = threading.Lock()

    async def write(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._in_transaction, work)

    async def read(self, work: Work[T]) -> T:
        return self._on_connection(work)

    async def fetch(
        self, statement: Select[Any], params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        return await self.read(fetch_rows(statement, params))

    async def execute_one(self, statement: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        return await self.write(fetch_rows(statement, params))

    @property
    def dialect(self) -> Dialect:
        return self._sync.dialect

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.shutdown, wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._sync.dispose()

    def _in_transaction(self, work: Work[T]) -> T:
        conn = self._connection()
        try:
            with conn.begin():
                return work(conn)
        except DBAPIError as exc:
            self._drop_after(exc, conn)
            raise

    def _on_connection(self, work: Work[T]) -> T:
        conn = self._connection()
        try:
            return work(conn)
        except DBAPIError as exc:
            self._drop_after(exc, conn)
            raise
        finally:
            if not conn.closed:
                conn.rollback()  # end the read; no snapshot outlives it

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "connection", None)
        if conn is None or conn.closed:
            conn = self._sync.connect()
            self._local.connection = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_after(self, error: DBAPIError, conn: Connection) -> None:
        """Forget a connection after a database error (a constraint violation is no fault
        of the connection): the next call opens a fresh one."""
        if isinstance(error, IntegrityError):
            return
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        self._local.connection = None
        conn.close()
