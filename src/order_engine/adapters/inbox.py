"""One subscriber's unbounded inbox of events, shared by the event buses."""

from __future__ import annotations

import asyncio
from collections import deque

from order_engine.domain.orders import OrderEvent


class Inbox:
    """Events a subscriber has not read yet. Iteration yields them, waiting for more, and
    ends once `end` was called and the inbox is drained."""

    def __init__(self) -> None:
        self._inbox: deque[OrderEvent] = deque()
        self._wake = asyncio.Event()
        self._ended = False

    def push(self, event: OrderEvent) -> None:
        self._inbox.append(event)
        self._wake.set()

    def end(self) -> None:
        self._ended = True
        self._wake.set()

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> OrderEvent:
        while not self._inbox:
            if self._ended:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._inbox.popleft()
