"""Appends for `RedisEventBus`: every event goes to the one capped stream of all orders'
events (the feed), with its order id in a field of its own so that readers can route an
entry without decoding it. Appends made while a batch is in flight wait and go out
together in the next one: one Lua call per batch (every XADD, MAXLEN ~, and one EXPIRE),
one round trip, in the order they were made."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from order_engine.adapters.coalesce import Coalescer

# Atomic: the feed never lives without a TTL, and the TTL is refreshed on every batch.
APPEND_LUA = """
for i = 3, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[i], 'data', ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
MAX_BATCH = 500

Append = tuple[str, bytes]  # order id, payload
Guard = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class FeedAppender:
    """Appends `(order_id, payload)` to the feed `key`, trimmed to about `maxlen` entries
    and expiring `ttl_s` after the last append."""

    def __init__(self, client: Redis, guard: Guard, key: str, *, maxlen: int, ttl_s: int) -> None:
        """`guard` runs each batch's call (the bus's in-flight limit and error translation)."""
        self._client, self._guard, self._key = client, guard, key
        self._maxlen, self._ttl_s = maxlen, ttl_s
        self._sha = client.register_script(APPEND_LUA).sha
        self._batches = Coalescer(self._guarded, max_batch=MAX_BATCH, name="redis-bus-appender")

    async def append(self, order_id: str, payload: bytes) -> None:
        """Raises what `guard` raises for the batch the append went out in."""
        await self._batches.submit((order_id, payload))

    async def close(self) -> None:
        await self._batches.close()

    async def _guarded(self, batch: list[Append]) -> None:
        await self._guard(partial(self._send, batch))

    async def _send(self, batch: list[Append]) -> None:
        """One script call; reloads the script once if Redis lost it (a restart)."""
        args: list[Any] = [self._maxlen, self._ttl_s]
        for order_id, payload in batch:
            args += (order_id, payload)
        try:
            await self._client.evalsha(self._sha, 1, self._key, *args)
        except NoScriptError:
            self._sha = await self._client.script_load(APPEND_LUA)
            await self._client.evalsha(self._sha, 1, self._key, *args)
