"""The one factory for Redis clients.

redis-py 8 sets a 5 s default socket timeout; BullMQ's blocking reads then time out and
stall in retry backoff (measured: ~3 s to pick up a job when idle, 14 s+ after hitting the
rate limit). Every client is created here with an explicit, longer socket timeout."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

SOCKET_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 100
POOL_WAIT_S = 5.0  # redis-py's default pool fails at once when full; this one waits


def redis_client(url: str, *, decode_responses: bool = False) -> Redis:
    """A client for `url` (redis://host:port/db) with the engine's timeouts, on a pool that
    makes a caller wait (up to `POOL_WAIT_S`) for a free connection instead of failing."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=15,
        decode_responses=decode_responses,
    )
    client: Redis = Redis.from_pool(pool)
    return client
