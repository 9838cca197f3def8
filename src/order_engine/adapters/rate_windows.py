"""`RateWindow`s: sliding windows of admissions per key (an account's orders of the last
minute). In memory, each process counts its own (`serve`, tests); in Redis, every process
of a deployment shares one window per key (`api` processes behind a load balancer).

Both keep each admission's time: a window is exact (no fixed-bucket burst at a minute's
edge), and the wait it answers is when the oldest admission leaves it.
"""

from __future__ import annotations

from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import DependencyUnavailableError

# KEYS[1] the window (a sorted set: entry -> ms); ARGV now_ms, window_ms, limit, entry.
# Returns -1 when the entry is recorded, else the ms until the oldest entry leaves.
ACQUIRE_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""


class InMemoryRateWindow:
    """This process's windows (a deque of (ms, entry) per key, oldest first)."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[tuple[int, str]]] = {}
        self._closed = False

    async def acquire(
        self, key: str, entry: str, *, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        self._check_open()
        window = self._windows.setdefault(key, deque())
        while window and window[0][0] <= now_ms - window_ms:
            window.popleft()
        if len(window) >= limit:
            return max(1, window[0][0] + window_ms - now_ms)
        window.append((now_ms, entry))
        return None

    async def release(self, key: str, entry: str) -> None:
        self._check_open()
        window = self._windows.get(key)
        if window is None:
            return
        for item in window:
            if item[1] == entry:
                window.remove(item)
                break
        if not window:
            del self._windows[key]

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise DependencyUnavailableError("rate window is closed")


class RedisRateWindow:
    """Windows shared through Redis: a sorted set per key (`{prefix}:rate:{key}`), trimmed,
    counted and added to by one Lua script (one round trip, atomic across processes); it
    expires one window after its last admission."""

    def __init__(self, url: str, *, prefix: str = "oe") -> None:
        self._client: Redis = redis_client(url, decode_responses=True)
        self._prefix = f"{prefix}:rate"
        self._acquire = self._client.register_script(ACQUIRE_LUA)

    async def acquire(
        self, key: str, entry: str, *, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        args: list[int | str] = [now_ms, window_ms, limit, entry]
        try:
            wait_ms = int(await self._acquire([f"{self._prefix}:{key}"], args))
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError("Redis is unavailable (rate window)") from exc
        return None if wait_ms < 0 else wait_ms

    async def release(self, key: str, entry: str) -> None:
        try:
            await self._client.zrem(f"{self._prefix}:{key}", entry)
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError("Redis is unavailable (rate window)") from exc

    async def close(self) -> None:
        await self._client.aclose()
