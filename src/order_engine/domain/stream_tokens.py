"""Stream tokens: a browser cannot set headers on a WebSocket (nor on an `EventSource`),
so the `wsUrl` an order's submit returns carries a short-lived token that opens that
order's stream, and only that one: `<expiry ms>.<HMAC-SHA256 of the order id and the
expiry>` under a secret every API process of a deployment shares.

A token that is malformed or has expired is refused as unauthenticated (WebSocket close
4401); one whose signature does not match the order asked for (another order's token, or
a forged one) is forbidden (4403). Checks are constant-time.

Feed tokens open the live feed of an account's orders (`/api/events/stream`) for the key
that asked for one: `<expiry ms>.<account id>.<key id>.<scope>.<admin 0|1>.<HMAC>`, signed
under the same secret in another domain (`feed:`), so neither kind passes for the other.
A malformed, forged or expired feed token is unauthenticated (4401).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from order_engine.domain.accounts import Principal, Scope
from order_engine.domain.errors import ForbiddenError, UnauthenticatedError

MAC_BYTES = 18  # 24 base64url characters
DEFAULT_TTL_S = 300


@dataclass(frozen=True, slots=True)
class StreamTokens:
    secret: bytes = field(repr=False)
    ttl_s: int = DEFAULT_TTL_S

    def issue(self, order_id: str, now_ms: int) -> str:
        expires_ms = now_ms + self.ttl_s * 1000
        return f"{expires_ms}.{self._mac(order_id, expires_ms)}"

    def check(self, token: str, order_id: str, now_ms: int) -> None:
        """Nothing if `token` opens `order_id`'s stream now; else why not (see above)."""
        expiry, _, mac = token.partition(".")
        if not (expiry.isdigit() and len(expiry) <= 15 and mac):
            raise UnauthenticatedError("the stream token is malformed")
        if not hmac.compare_digest(mac, self._mac(order_id, int(expiry))):
            raise ForbiddenError("the stream token does not open this order's stream")
        if int(expiry) <= now_ms:
            raise UnauthenticatedError(
                "the stream token expired: get a fresh wsUrl (GET /api/orders/{id}) or send "
                "an API key"
            )

    def issue_feed(self, principal: Principal, now_ms: int) -> str:
        """A token that opens the feed of what `principal` may see, until the TTL."""
        expires_ms = now_ms + self.ttl_s * 1000
        p = principal
        body = f"{expires_ms}.{p.account_id}.{p.key_id}.{p.scope.value}.{int(p.admin)}"
        return f"{body}.{self._sign('feed:' + body)}"

    def check_feed(self, token: str, now_ms: int) -> Principal:
        """Who the feed token acts for, if it is valid now (`UnauthenticatedError`)."""
        body, _, mac = token.rpartition(".")
        parts = body.split(".")
        if len(parts) != 5 or not mac or not (parts[0].isdigit() and len(parts[0]) <= 15):
            raise UnauthenticatedError("the feed token is malformed")
        if not hmac.compare_digest(mac, self._sign("feed:" + body)):
            raise UnauthenticatedError("the feed token is not valid")
        expiry, account_id, key_id, scope, admin = parts
        if int(expiry) <= now_ms:
            raise UnauthenticatedError(
                "the feed token expired: ask for a fresh one (POST /api/events/token)"
            )
        return Principal(account_id, key_id, Scope(scope), admin == "1")

    def _mac(self, order_id: str, expires_ms: int) -> str:
        return self._sign(f"stream:{order_id}:{expires_ms}")

    def _sign(self, text: str) -> str:
        digest = hmac.new(self.secret, text.encode(), hashlib.sha256).digest()[:MAC_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
