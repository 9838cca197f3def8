"""Appends for `RedisEventBus`: every event goes to the one capped stream of all orders'
events (the feed), with its order id in a field of its own so that readers can route an
entry without decoding it. Appends made while a batch is in flight wait and go out
together in the next one: one Lua call per batch (every XADD, MAXLEN ~, and one EXPIRE),
one round trip, in the order they were made."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# Atomic: the feed never lives without a TTL, and the TTL is refreshed on every batch.
APPEND_LUA = """
for i = 3, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[i], 'data', ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
MAX_BATCH = 500

Append = tuple[str, bytes, "asyncio.Future[None]"]  # order id, payload, caller
Guard = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class FeedAppender:
    """Appends `(order_id, payload)` to the feed `key`, trimmed to about `maxlen` entries
    and expiring `ttl_s` after the last append."""

    def __init__(self, client: Redis, guard: Guard, key: str, *, maxlen: int, ttl_s: int) -> None:
        """`guard` runs each batch's call (the bus's in-flight limit and error translation)."""
        self._client, self._guard, self._key = client, guard, key
        self._maxlen, self._ttl_s = maxlen, ttl_s
        self._sha = client.register_script(APPEND_LUA).sha
        self._pending: list[Append] = []
        self._sender: asyncio.Task[None] | None = None

    async def append(self, order_id: str, payload: bytes) -> None:
        """Raises what `guard` raises for the batch the append went out in."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((order_id, payload, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all(), name="redis-bus-appender")
        await done

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)

    async def _send_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self._guard(partial(self._send, batch))
            except asyncio.CancelledError:
                for *_, done in batch + self._pending:
                    done.cancel()
                self._pending = []
                raise
            except Exception as exc:  # the callers see it through their futures
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _send(self, batch: list[Append]) -> None:
        """One script call; reloads the script once if Redis lost it (a restart)."""
        args: list[Any] = [self._maxlen, self._ttl_s]
        for order_id, payload, _done in batch:
            args += (order_id, payload)
        try:
            await self._client.evalsha(self._sha, 1, self._key, *args)
        except NoScriptError:
            self._sha = await self._client.script_load(APPEND_LUA)
            await self._client.evalsha(self._sha, 1, self._key, *args)
