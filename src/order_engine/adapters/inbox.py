"""One subscriber's unbounded inbox of events (or feed entries), shared by the event buses."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Items a subscriber has not read yet. Iteration yields them, waiting for more, and
    ends once `end` was called and the inbox is drained."""

    def __init__(self) -> None:
        self._inbox: deque[T] = deque()
        self._wake = asyncio.Event()
        self._ended = False

    def push(self, item: T) -> None:
        self._inbox.append(item)
        self._wake.set()

    def end(self) -> None:
        self._ended = True
        self._wake.set()

    def __aiter__(self) -> Inbox[T]:
        return self

    async def __anext__(self) -> T:
        while not self._inbox:
            if self._ended:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._inbox.popleft()
