"""`SwapLedger` in Redis: the simulated chain shared by every API and worker process.

One key per signature (the entry as JSON) and one list per order (its signatures), both
expiring after `ttl_s`; a Lua script adds both or neither, so a signature is recorded once.
Redis errors become `VenueUnavailableError` (transient): to the engine, an unreachable
ledger is an unreachable chain.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.redis_client import redis_client
from order_engine.domain.errors import VenueUnavailableError
from order_engine.venues.sim.ledger import LedgerEntry

RECORD_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
DEFAULT_TTL_S = 7 * 24 * 3600  # longer than any order's retries and recovery


class RedisSwapLedger:
    def __init__(self, url: str, *, prefix: str = "oe", ttl_s: int = DEFAULT_TTL_S) -> None:
        self._client: Redis = redis_client(url, decode_responses=True)
        self._prefix = f"{prefix}:chain"
        self._ttl_s = ttl_s
        self._record = self._client.register_script(RECORD_LUA)

    def _tx_key(self, signature: str) -> str:
        return f"{self._prefix}:tx:{signature}"

    def _order_key(self, order_id: str) -> str:
        return f"{self._prefix}:order:{order_id}"

    async def record(self, entry: LedgerEntry) -> bool:
        keys = [self._tx_key(entry.signature), self._order_key(entry.order_id)]
        try:
            added = await self._record(keys, [entry.to_json(), entry.signature, self._ttl_s])
        except (RedisError, OSError) as exc:
            raise VenueUnavailableError(f"{entry.venue}: the chain is unreachable") from exc
        return bool(added)

    async def get(self, signature: str) -> LedgerEntry | None:
        try:
            raw = await self._client.get(self._tx_key(signature))
        except (RedisError, OSError) as exc:
            raise VenueUnavailableError("the chain is unreachable") from exc
        return None if raw is None else LedgerEntry.from_json(raw)

    async def entries(self, order_id: str) -> list[LedgerEntry]:
        try:
            signatures = await self._client.lrange(self._order_key(order_id), 0, -1)
            if not signatures:
                return []
            raws = await self._client.mget([self._tx_key(str(s)) for s in signatures])
        except (RedisError, OSError) as exc:
            raise VenueUnavailableError("the chain is unreachable") from exc
        return [LedgerEntry.from_json(raw) for raw in raws if raw is not None]

    async def close(self) -> None:
        await self._client.aclose()
