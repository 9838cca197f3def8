"""One subscriber's unbounded inbox of events (or feed entries), shared by the event buses."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Items a subscriber has not read yet. Iteration yields them, waiting for more, and
    ends once `end` was called and the inbox is drained. `nudge` wakes a reader waiting in
    `next_or_nudge`, which then returns None (once no item is waiting)."""

    __slots__ = ("_ended", "_inbox", "_nudged", "_waiter")

    def __init__(self) -> None:
        self._inbox: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None  # the reader's, while it waits
        self._ended = False
        self._nudged = False

    def push(self, item: T) -> None:
        self._inbox.append(item)
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def nudge(self) -> None:
        self._nudged = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Inbox[T]:
        return self

    async def __anext__(self) -> T:
        while not self._inbox:
            if self._ended:
                raise StopAsyncIteration
            await self._wait()
        return self._inbox.popleft()

    async def next_or_nudge(self) -> T | None:
        while not self._inbox:
            if self._nudged:
                self._nudged = False
                return None
            if self._ended:
                raise StopAsyncIteration
            await self._wait()
        return self._inbox.popleft()

    async def _wait(self) -> None:
        """Until the next push, end or nudge (one reader at a time)."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
