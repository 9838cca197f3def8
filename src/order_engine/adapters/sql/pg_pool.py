"""A lean pool of asyncpg connections for statements that leave no session state behind.

asyncpg's own `Pool` resets a connection on every release (a round trip) unless told not
to, and even then runs each release in a task of its own (`asyncio.shield`) and re-arms an
inactivity timer: ~60 us of CPU per statement here, as much as the statement itself. This
pool hands out idle connections last-in first-out, opens one when none is idle (at most
`max_size`), queues callers beyond that in arrival order, and never reuses a connection a
statement was cancelled or timed out on, or lost (it may be mid-protocol): it is closed
instead. An error the server answered (a constraint, a bad value) leaves it in use: each
statement is its own transaction, so nothing is left open.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class PgConnectionPool:
    def __init__(self, connect: Connect, *, max_size: int = 10, max_idle_s: float = 300.0) -> None:
        """A connection idle longer than `max_idle_s` is closed instead of used (a firewall
        or the server may have dropped it without a word)."""
        self._connect, self._max_size, self._max_idle_s = connect, max_size, max_idle_s
        self._idle: list[tuple[asyncpg.Connection, float]] = []  # with when it went idle
        self._owned: set[asyncpg.Connection] = set()  # idle or in use
        self._opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def open_connections(self) -> int:
        return len(self._owned) + self._opening

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        conn = await self._acquire()
        try:
            records: list[asyncpg.Record] = await conn.fetch(sql, *args)
        except asyncpg.PostgresError:  # the server refused it: the session is fine
            self._release(conn)
            raise
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn)
        return records

    async def close(self) -> None:
        """Close the idle connections; those in use close when their statement ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            self._owned.discard(conn)
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the pool is closed"))

    async def _acquire(self) -> asyncpg.Connection:
        self._follow_loop()
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the pool is closed")
            while self._idle:
                conn, since = self._idle.pop()
                if not conn.is_closed() and time.monotonic() - since <= self._max_idle_s:
                    return conn
                self._discard(conn, wake=False)
            if self.open_connections < self._max_size:
                return await self._open_one()
            await self._wait_turn()

    async def _open_one(self) -> asyncpg.Connection:
        self._opening += 1
        try:
            conn = await self._connect()
        except BaseException:
            self._wake_one()
            raise
        finally:
            self._opening -= 1
        self._owned.add(conn)
        return conn

    async def _wait_turn(self) -> None:
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._wake_one()  # woken, then cancelled: pass the turn on
            raise

    def _release(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed() or conn not in self._owned:
            self._discard(conn)
            return
        self._idle.append((conn, time.monotonic()))
        self._wake_one()

    def _discard(self, conn: asyncpg.Connection, *, wake: bool = True) -> None:
        self._owned.discard(conn)
        conn.terminate()
        if wake:
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _follow_loop(self) -> None:
        """Connections belong to the loop that opened them: on another loop (a store that
        outlived one, in tests) the old ones are dropped."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        for conn, _ in self._idle:
            conn.terminate()
        self._idle, self._owned, self._waiters, self._loop = [], set(), deque(), loop
        self._opening = 0
