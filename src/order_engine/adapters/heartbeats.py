"""Which worker processes are alive, for `/ready` and `/metrics`.

In production each worker process keeps a heartbeat key `PREFIX:workers:<id>` in Redis,
refreshed every `interval_s` and living `TTL_INTERVALS` times as long, and deletes it on a
clean stop; a killed worker stops counting when its key runs out. The ids are also kept in
the set `PREFIX:workers`, so counting reads one key per worker instead of scanning Redis.
In one process without Redis (`serve`), the process's own workers are the only ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Protocol

import orjson
from redis.exceptions import RedisError

from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import DependencyUnavailableError

log = logging.getLogger(__name__)
TTL_INTERVALS = 3
STOP_WAIT_S = 5.0  # how long `stop` waits for a beat in flight
RETRY_S = 0.5  # between beats while they fail


class WorkerHeartbeats(Protocol):
    async def start(self) -> None:
        """This process runs workers from now on (until `stop`)."""
        ...

    async def live(self) -> int:
        """Worker processes alive now. Raises `DependencyUnavailableError`."""
        ...

    async def stop(self) -> None: ...


def worker_problem(*, live: int, depth: int) -> str | None:
    """Why the engine cannot make progress (orders queued and nobody to run them), or None."""
    if live == 0 and depth > 0:
        return f"no live worker and {depth} jobs queued"
    return None


class LocalWorkers:
    """The workers of this process only (embedded, without Redis)."""

    def __init__(self) -> None:
        self._running = False

    async def start(self) -> None:
        self._running = True

    async def live(self) -> int:
        return int(self._running)

    async def stop(self) -> None:
        self._running = False


class RedisWorkerHeartbeats:
    """Heartbeats in Redis under `prefix`; `start` begins this process's, `live` counts
    every process's."""

    def __init__(self, redis_url: str, *, prefix: str, interval_s: float) -> None:
        self._client = redis_client(redis_url)
        self._index = f"{prefix}:workers"
        self._id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._interval_s = interval_s
        self._ttl_ms = max(1, round(interval_s * TTL_INTERVALS * 1000))
        self._value = orjson.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "startedMs": _now_ms()}
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def _key(self, worker_id: str) -> str:
        return f"{self._index}:{worker_id}"

    async def start(self) -> None:
        await self._beat()
        self._task = asyncio.create_task(self._beating(), name="worker-heartbeat")

    async def _beat(self) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._key(self._id), self._value, px=self._ttl_ms)
                pipe.sadd(self._index, self._id)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise DependencyUnavailableError("worker heartbeat unavailable") from error

    async def _beating(self) -> None:
        """Beat every interval until `_stopping` is set; after a failed beat, again within
        `RETRY_S` (a Redis that comes back, maybe empty, sees this worker at once). Never
        cancelled in the middle of a beat: redis-py can leave a connection cancelled
        mid-command waiting forever."""
        wait_s = self._interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait_s)
                return
            try:
                await self._beat()
                wait_s = self._interval_s
            except DependencyUnavailableError as exc:
                if wait_s == self._interval_s:  # once per outage
                    log.warning("%s; trying again every %.1f s", exc.message, RETRY_S)
                wait_s = min(self._interval_s, RETRY_S)

    async def live(self) -> int:
        try:
            members = await self._client.smembers(self._index)
            ids = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            if not ids:
                return 0
            alive = await self._client.mget([self._key(i) for i in ids])
            gone = [i for i, value in zip(ids, alive, strict=True) if value is None]
            if gone:
                await self._client.srem(self._index, *gone)
        except (RedisError, OSError) as error:
            raise DependencyUnavailableError("worker heartbeats unavailable") from error
        return len(ids) - len(gone)

    async def abandon(self) -> None:
        """Stop beating and leave the key to expire (what a killed worker does)."""
        await self._cancel()
        await self._client.aclose()

    async def stop(self) -> None:
        """Stop beating; a process that beat removes its key (a clean stop)."""
        beat = self._task is not None
        await self._cancel()
        if beat:
            with contextlib.suppress(RedisError, OSError):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.delete(self._key(self._id))
                    pipe.srem(self._index, self._id)
                    await pipe.execute()
        await self._client.aclose()

    async def _cancel(self) -> None:
        if self._task is not None:
            self._stopping.set()
            try:  # the beat in flight finishes; a hung one is given up after a while
                await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT_S)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _now_ms() -> int:
    return int(time.time() * 1000)
