"""Translation of database library errors into the engine's error tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from order_engine.domain.errors import ConflictError, DependencyUnavailableError, EngineError

# What a database that is down, unreachable, locked or out of connections raises.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DBAPIError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    OSError,
)


def translate(error: BaseException) -> BaseException:
    """The engine error to raise in place of `error` (unknown errors pass through)."""
    if isinstance(error, EngineError):
        return error
    if isinstance(error, sa_exc.IntegrityError):
        return ConflictError("the change conflicts with stored data")
    if isinstance(error, UNAVAILABLE_ERRORS):
        return DependencyUnavailableError("database unavailable")
    return error


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise driver errors as engine errors, chained, never with the driver's message."""
    try:
        yield
    except EngineError:
        raise
    except (*UNAVAILABLE_ERRORS,) as exc:
        raise translate(exc) from exc
