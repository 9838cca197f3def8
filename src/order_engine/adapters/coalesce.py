"""Many callers' small writes as few round trips: items submitted while a batch is in
flight wait and go out together in the next one (at most `max_batch` per batch), in the
order they were submitted. Each caller waits for its own batch: done, or that batch's error.
When nothing is in flight an item leaves at once (no timer, no added latency)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(
        self, send: Callable[[list[T]], Awaitable[None]], *, max_batch: int, name: str
    ) -> None:
        """`send` writes one batch (raising fails every item of it)."""
        self._send, self._max_batch, self._name = send, max(1, max_batch), name
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Returns once the batch `item` went out in was written; raises its error."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all(), name=self._name)
        await done

    async def close(self) -> None:
        """Wait for what was submitted to go out."""
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)

    async def _send_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            try:
                await self._send([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch + self._pending:
                    done.cancel()
                self._pending = []
                raise
            except Exception as exc:  # the callers see it through their futures
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
