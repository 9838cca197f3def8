"""PostgreSQL statements straight on asyncpg. SQLAlchemy compiles each Core statement once
(to asyncpg's `$n` SQL); asyncpg runs it on a lean pool of its own (`pg_pool.py`), with its
prepared-statement cache. A point read costs 0.35-0.5x the client CPU of SQLAlchemy's
execution this way (`bench/bench_sql_read.py`, 2026-12-04: 56-121 us against 200-307 us).
The column types that are ours (`TypeDecorator`s: money, JSON text) encode and decode here
as SQLAlchemy would; the rest are asyncpg's own. Statements with an expanding `IN` list are
not compiled here (`compile_direct` returns None): the caller runs those through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.engine import URL
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_engine.adapters.sql.pg_pool import PgConnectionPool

Codec = Callable[[Any], Any]


class DirectStatementCount:
    """Statements sent this way (the `db_statements_total` metric adds them to
    SQLAlchemy's)."""

    count = 0


@dataclass(frozen=True, slots=True)
class DirectStatement:
    """One compiled statement: its SQL, where each positional argument comes from (a
    caller's parameter or the statement's own bound value) and the columns to decode."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    encoders: tuple[Codec | None, ...]
    decoders: tuple[tuple[str, Codec], ...]

    def args(self, params: Mapping[str, Any] | None) -> list[Any]:
        given = params or {}
        values = [given[n] if n in given else self.defaults[n] for n in self.names]
        return [v if enc is None else enc(v) for v, enc in zip(values, self.encoders, strict=True)]

    def rows(self, records: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
        rows = [dict(record.items()) for record in records]
        for key, decode in self.decoders:
            for row in rows:
                row[key] = decode(row[key])
        return rows


def compile_direct(statement: ClauseElement, dialect: Dialect) -> DirectStatement | None:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if compiled.post_compile_params:
        return None
    names = tuple(compiled.positiontup or ())
    binds = {name: compiled.binds[name] for name in names}
    defaults = {n: b.effective_value for n, b in binds.items() if not b.required}
    encoders = tuple(_encoder(binds[n].type, dialect) for n in names)
    decoders = tuple(
        (column.key, partial(column.type.process_result_value, dialect=dialect))
        for column in getattr(statement, "selected_columns", ())
        if isinstance(column.type, TypeDecorator)
    )
    return DirectStatement(compiled.string, names, defaults, encoders, decoders)


def _encoder(column_type: TypeEngine[Any], dialect: Dialect) -> Codec | None:
    if isinstance(column_type, TypeDecorator):
        return partial(column_type.process_bind_param, dialect=dialect)
    return None


def asyncpg_dsn(url: URL) -> str:
    """The libpq DSN asyncpg takes for a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class DirectStatements:
    """Statements compiled once per statement object, run on a lean pool of asyncpg
    connections (`pg_pool.py`; at most `max_size`, opened on first use). A statement that
    takes longer than `command_timeout_s` raises `TimeoutError` (an unavailable database to
    the caller); waiting for a free connection is bounded by it."""

    def __init__(
        self,
        url: URL,
        dialect: Dialect,
        *,
        max_size: int = 10,
        connect_args: Mapping[str, Any] | None = None,
        command_timeout_s: float = 30.0,
    ) -> None:
        self._dialect = dialect
        self._compiled: dict[int, tuple[ClauseElement, DirectStatement | None]] = {}
        args = {"timeout": 5.0, **(connect_args or {}), "command_timeout": command_timeout_s}
        connect = partial(asyncpg.connect, asyncpg_dsn(url), **args)
        self._pool = PgConnectionPool(connect, max_size=max_size)

    def compiled(self, statement: ClauseElement) -> DirectStatement | None:
        """`statement` compiled for asyncpg, or None when it must go through SQLAlchemy."""
        found = self._compiled.get(id(statement))
        if found is None:  # the statement is kept, so its id is never reused meanwhile
            found = (statement, compile_direct(statement, self._dialect))
            self._compiled[id(statement)] = found
        return found[1]

    async def fetch(
        self, direct: DirectStatement, params: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        DirectStatementCount.count += 1
        return direct.rows(await self._pool.fetch(direct.sql, direct.args(params)))

    async def close(self) -> None:
        await self._pool.close()
