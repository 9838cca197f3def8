"""Who a request acts for: `Authorization: Bearer <key>` (see `engine.auth`), or, in open
mode (`AUTH_MODE=open`, loopback only), the local admin account when no key is sent.

Routes name what they need with `Reader`, `Trader` or `Administrator` (the scope their
call needs); a missing or bad key is 401, a key without the scope 403. An order's stream
also opens with the stream token of its `wsUrl` (`token=`), for browsers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from order_engine.api.context import context_of
from order_engine.domain.accounts import Principal, Scope
from order_engine.domain.stream_tokens import StreamTokens
from order_engine.engine.auth import Authenticator
from order_engine.engine.ports import Clock


@dataclass(frozen=True, slots=True)
class Access:
    authenticator: Authenticator
    tokens: StreamTokens
    clock: Clock
    open_as: Principal | None = None  # open mode: who a request without a key acts for

    async def principal(self, authorization: str | None, scope: Scope) -> Principal:
        """The caller, allowed `scope`; `UnauthenticatedError` / `ForbiddenError`."""
        if not authorization and self.open_as is not None:
            return self.open_as
        principal = await self.authenticator.authenticate(authorization)
        self.authenticator.require(principal, scope)
        return principal

    def stream_token(self, order_id: str) -> str:
        return self.tokens.issue(order_id, self.clock.now_ms())

    def check_stream_token(self, token: str, order_id: str) -> None:
        self.tokens.check(token, order_id, self.clock.now_ms())

    def feed_token(self, principal: Principal) -> tuple[str, int]:
        """A token for the feed of what `principal` may see, and when it expires (ms)."""
        now = self.clock.now_ms()
        return self.tokens.issue_feed(principal, now), now + self.tokens.ttl_s * 1000


def needs(scope: Scope) -> Callable[[Request], Awaitable[Principal | None]]:
    """A dependency: the caller if its key allows `scope` (None: an app without access
    control, as unit tests build it)."""

    async def caller(request: Request) -> Principal | None:
        access = context_of(request).access
        if access is None:
            return None
        return await access.principal(request.headers.get("authorization"), scope)

    return caller


Reader = Annotated[Principal | None, Depends(needs(Scope.READ))]
Trader = Annotated[Principal | None, Depends(needs(Scope.TRADE))]
Administrator = Annotated[Principal | None, Depends(needs(Scope.ADMIN))]


async def feed_viewer(
    access: Access | None, authorization: str | None, token: str | None
) -> Principal | None:
    """Who opens the feed: by key (the read scope), or by a feed token (`token=`, from
    `POST /api/events/token`: browsers cannot send a key on a WebSocket). None: an app
    without access control (every order)."""
    if access is None:
        return None
    if token is not None and not authorization:
        return access.tokens.check_feed(token, access.clock.now_ms())
    return await access.principal(authorization, Scope.READ)


async def stream_viewer(
    access: Access | None, authorization: str | None, token: str | None, order_id: str
) -> tuple[Principal | None, bool]:
    """Who opens `order_id`'s stream: `(principal, False)` by key (the order must be its
    account's, or the key an admin's), or `(None, True)` by the order's stream token."""
    if access is None:
        return None, False
    if token is not None and not authorization:
        access.check_stream_token(token, order_id)
        return None, True
    return await access.principal(authorization, Scope.READ), False
