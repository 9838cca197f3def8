"""One subscriber's unbounded inbox of events (or feed entries), shared by the event buses."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")
COMPACT_AFTER = 256


class Inbox(Generic[T]):
    """Items a subscriber has not read yet. Iteration yields them, waiting for more, and
    ends once `end` was called and the inbox is drained. `nudge` wakes a reader waiting in
    `next_or_nudge`, which then returns None (once no item is waiting)."""

    __slots__ = ("_ended", "_head", "_inbox", "_nudged", "_waiter")

    def __init__(self) -> None:
        # a list read from `_head` on: far smaller than a deque for the one or two items a
        # stream's inbox holds at a time (thousands of idle streams hold an empty one)
        self._inbox: list[T] = []
        self._head = 0
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
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Inbox[T]:
        return self

    async def __anext__(self) -> T:
        while self._head == len(self._inbox):
            if self._ended:
                raise StopAsyncIteration
            await self._wait()
        return self._pop()

    async def next_or_nudge(self) -> T | None:
        while self._head == len(self._inbox):
            if self._nudged:
                self._nudged = False
                return None
            if self._ended:
                raise StopAsyncIteration
            await self._wait()
        return self._pop()

    def _pop(self) -> T:
        item = self._inbox[self._head]
        self._head += 1
        if self._head == len(self._inbox):
            self._inbox.clear()
            self._head = 0
        elif self._head >= COMPACT_AFTER and 2 * self._head >= len(self._inbox):
            del self._inbox[: self._head]  # a reader behind: let go of what it read
            self._head = 0
        return item

    def _wait(self) -> asyncio.Future[None]:
        """Done at the next push, end or nudge (one reader at a time). A future, not a
        coroutine: a reader waiting on it has one frame less (thousands of idle streams)."""
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter
