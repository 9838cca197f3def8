"""Translation of database library errors into the engine's error tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from order_engine.domain.errors import ConflictError, DependencyUnavailableError, EngineError

# What a database that is down, unreachable, locked or out of connections raises: through
# SQLAlchemy (`DBAPIError` covers `InterfaceError`, `OperationalError`, ...), or straight
# from the driver or the socket (a refused or timed-out connect is an `OSError`).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DBAPIError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)

# A constraint violation, through SQLAlchemy or straight from asyncpg (`direct.py`).
INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
)

# SQLSTATEs of a transaction PostgreSQL aborted to break a lock cycle or a serialization
# conflict: the same writes, retried one per transaction, succeed.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
MISSING_DATABASE = "3D000"  # invalid_catalog_name: the server has no database of that name
DUPLICATE_DATABASE = "42P04"
BAD_CREDENTIALS = frozenset({"28P01", "28000"})  # invalid password / authorization
# Our words for what an operator can fix, told apart from an unreachable server.
WHY_UNAVAILABLE = {
    MISSING_DATABASE: "database unavailable: the server has no database of that name "
    "(`order-engine migrate` creates it)",
    **dict.fromkeys(
        BAD_CREDENTIALS, "database unavailable: the server refused the user or password"
    ),
}


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error (through SQLAlchemy or not), if any."""
    orig = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    code = getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def translate(error: BaseException) -> BaseException:
    """The engine error to raise in place of `error` (unknown errors pass through)."""
    if isinstance(error, EngineError):
        return error
    if isinstance(error, INTEGRITY_ERRORS):
        return ConflictError("the change conflicts with stored data")
    if isinstance(error, UNAVAILABLE_ERRORS):
        why = WHY_UNAVAILABLE.get(sqlstate(error) or "", "database unavailable")
        return DependencyUnavailableError(why)
    return error


def is_retryable(error: BaseException) -> bool:
    """Whether `error` is a deadlock or serialization failure (worth retrying as is)."""
    return sqlstate(error) in RETRYABLE_SQLSTATES


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise driver errors as engine errors, chained, never with the driver's message."""
    try:
        yield
    except EngineError:
        raise
    except (*UNAVAILABLE_ERRORS,) as exc:
        raise translate(exc) from exc
