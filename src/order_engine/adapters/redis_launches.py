"""`LaunchBoard` in Redis: the launches every API and worker process of a deployment shares.

A hash `{prefix}:launches` (symbol → launch JSON) makes a symbol launch once; a list
`{prefix}:launches:log` keeps the launches oldest first; and PUBLISH on the channel
`{prefix}:launches` tells the processes listening. One Lua script does all three, so a
launch is never recorded without being broadcast.

Listening is one background task per board on a pub/sub connection of its own. Every time
it (re)subscribes (the first time, and after Redis restarts or the connection drops) it
re-reads the log and delivers what it has not delivered yet, so launches announced while it
was away are not lost; the board remembers the symbols it delivered and never repeats one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.memory_launches import notify
from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.launches import Launch
from order_engine.engine.ports import LaunchListener

log = logging.getLogger(__name__)
T = TypeVar("T")

ANNOUNCE_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
"""
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 5.0
POLL_S = 0.5  # the listening task checks for `close` this often


class RedisLaunchBoard:
    """`LaunchBoard` shared by every process that talks to the same Redis and prefix."""

    def __init__(self, url: str, *, prefix: str = "oe") -> None:
        self._client: Redis = redis_client(url, decode_responses=True)
        self._hash_key = self._channel = f"{prefix}:launches"
        self._log_key = f"{prefix}:launches:log"
        self._announce = self._client.register_script(ANNOUNCE_LUA)
        self._listeners: list[LaunchListener] = []
        self._delivered: set[str] = set()  # symbols this board has given its listeners
        self._starting = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stopping = asyncio.Event()

    async def announce(self, launch: Launch) -> bool:
        keys = [self._hash_key, self._log_key]
        args = [launch.symbol, launch.to_json(), self._channel]
        added = await self._call("announcing a launch", partial(self._announce, keys, args))
        return bool(added)

    async def launches(self) -> list[Launch]:
        raws: list[bytes | str] = await self._call(
            "reading launches", partial(self._client.lrange, self._log_key, 0, -1)
        )
        return [Launch.from_json(raw) for raw in raws]

    async def listen(self, listener: LaunchListener) -> None:
        """The first call reads which launches exist (they are not delivered) and starts
        the listening task; it raises `DependencyUnavailableError` if Redis is down."""
        async with self._starting:
            if self._closed:
                return
            if self._task is None:
                self._delivered.update(launch.symbol for launch in await self.launches())
                self._task = asyncio.create_task(
                    self._listen_forever(), name=f"launch-board {self._channel}"
                )
            self._listeners.append(listener)

    async def ping(self) -> None:
        await self._call("ping", self._client.ping)

    async def close(self) -> None:
        """Stop listening (no listener is called after this) and close the connections.
        The task is asked to stop and ends within one poll; cancelling a redis-py pubsub
        read instead hangs under uvloop (the cancellation is lost), so it is the fallback."""
        self._closed = True
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), POLL_S * 4)
            except TimeoutError:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, POLL_S)
        await self._client.aclose()

    async def _listen_forever(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._closed:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while not self._closed:  # polls, so that `close` can stop it
                        message = await pubsub.get_message(timeout=POLL_S)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            backoff = BACKOFF_FIRST_S
                            await self._catch_up()
                        elif message["type"] == "message":
                            await self._on_message(message["data"])
            except (RedisError, OSError) as error:  # an outage: expected, one line
                log.warning("launches: Redis unavailable (%s); retrying in %.2f s", error, backoff)
            except Exception:
                log.warning(
                    "listening for launches failed; retrying in %.2f s", backoff, exc_info=True
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _catch_up(self) -> None:
        """Deliver, oldest first, what was announced while this board was not subscribed."""
        for launch in await self.launches():
            await self._deliver(launch)

    async def _on_message(self, data: str) -> None:
        try:
            launch = Launch.from_json(data)
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a malformed launch message on %s: %.200r", self._channel, data)
            return
        await self._deliver(launch)

    async def _deliver(self, launch: Launch) -> None:
        if launch.symbol in self._delivered:
            return
        self._delivered.add(launch.symbol)
        await notify(self._listeners, launch, self._is_open)

    def _is_open(self) -> bool:
        return not self._closed

    async def _call(self, action: str, operation: Callable[[], Awaitable[T]]) -> T:
        """One Redis call; driver errors become `DependencyUnavailableError` without the
        driver's text."""
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError(f"Redis is unavailable ({action})") from exc
