"""`Authenticator`: who a request acts for, from its `Authorization: Bearer <key>` header.

Every way a key can be wrong (no header, another scheme, not shaped like a key, an unknown
key id, a wrong secret, a revoked or expired key) gets the same `UnauthenticatedError`,
whose message never contains the key; the log line names only the key id and why. A key
and its account, once read, are remembered for `cache_ttl_s` (2 s by default, 0 = never),
so a revoked key stops working within that long in every process (at once in the process
that revoked it, through `forget`). The secret is checked on every call, in constant time.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from order_engine.domain.accounts import (
    Account,
    ApiKey,
    KeyToken,
    Principal,
    Scope,
    hash_secret,
    parse_token,
)
from order_engine.domain.errors import (
    AccountNotFoundError,
    ForbiddenError,
    UnauthenticatedError,
)
from order_engine.engine.account_ports import AccountStore
from order_engine.engine.ports import Clock

log = logging.getLogger(__name__)
REJECTED = "a valid API key is required: send Authorization: Bearer <key>"
DEFAULT_CACHE_TTL_S = 2.0
DEFAULT_CACHE_SIZE = 10_000
_DECOY_HASH = hash_secret("0" * 16, "no such key")


@dataclass(frozen=True, slots=True)
class _Cached:
    key: ApiKey
    account: Account
    until: float  # monotonic seconds


def bearer_token(authorization: str | None) -> KeyToken | None:
    """The key in an `Authorization` header value (`Bearer <key>`, scheme in any case),
    or None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return parse_token(credentials.strip())


class Authenticator:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        *,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        cache_size: int = DEFAULT_CACHE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = cache_ttl_s
        self._size = cache_size
        self._monotonic = monotonic
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of a valid, active key; `UnauthenticatedError` otherwise."""
        token = bearer_token(authorization)
        if token is None:
            raise self._rejected(None, "no key")
        found = await self._lookup(token.key_id)
        if found is None:
            hmac.compare_digest(hash_secret(token.key_id, token.secret), _DECOY_HASH)
            raise self._rejected(token.key_id, "unknown key")
        if not found.key.matches(token.secret):
            raise self._rejected(token.key_id, "wrong secret")
        state = found.key.state(self._clock.now_ms())
        if state != "active":
            raise self._rejected(token.key_id, state)
        key, account = found.key, found.account
        return Principal(account.id, key.id, key.scope, account.admin, account.limits)

    @staticmethod
    def require(principal: Principal, scope: Scope) -> None:
        """`ForbiddenError` unless the principal's key allows calls that need `scope`."""
        if not principal.can(scope):
            needs = "an admin account's admin key" if scope is Scope.ADMIN else f"the {scope} scope"
            raise ForbiddenError(f"this call needs a key with {needs}")

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (after revoking it in this process)."""
        self._cache.pop(key_id, None)

    async def _lookup(self, key_id: str) -> _Cached | None:
        now = self._monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached.until > now:
            return cached
        self._cache.pop(key_id, None)
        key = await self._store.find_key(key_id)
        if key is None:
            return None
        try:
            account = await self._store.get_account(key.account_id)
        except AccountNotFoundError:
            return None
        entry = _Cached(key, account, now + self._ttl_s)
        if self._ttl_s > 0:
            self._remember(key_id, entry)
        return entry

    def _remember(self, key_id: str, entry: _Cached) -> None:
        self._cache[key_id] = entry
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    @staticmethod
    def _rejected(key_id: str | None, why: str) -> UnauthenticatedError:
        log.info("request refused: API key %s: %s", key_id or "-", why)
        return UnauthenticatedError(REJECTED)
