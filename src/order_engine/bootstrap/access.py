"""Access control in the composition root: the API's `Access` (authenticator, stream
tokens signed with the deployment's shared secret, open mode), and the first admin key of
an embedded `serve`."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from order_engine.api.auth import Access
from order_engine.domain.accounts import Account, Principal, Scope
from order_engine.domain.errors import AccountExistsError
from order_engine.domain.stream_tokens import StreamTokens
from order_engine.engine.account_ports import AccountStore
from order_engine.engine.accounts import AccountAdmin
from order_engine.engine.auth import Authenticator
from order_engine.engine.ports import Clock
from order_engine.settings import Settings

log = logging.getLogger(__name__)
ADMIN_KEY_FILE = "admin.key"
ADMIN_ACCOUNT = "admin"
LOCAL_ACCOUNT = "local"  # open mode's: who a call without a key acts for


async def make_access(
    settings: Settings, accounts: AccountAdmin, store: AccountStore, clock: Clock, command: str
) -> Access:
    tokens = StreamTokens(await store.shared_secret("stream-tokens"), settings.stream_token_ttl_s)
    authenticator = Authenticator(store, clock)
    if settings.auth_mode == "open":
        local = await _account(accounts, LOCAL_ACCOUNT)
        log.warning(
            "AUTH_MODE=open: calls without an API key act for the local admin account "
            "(only on %s); set AUTH_MODE=keys to require keys",
            settings.host,
        )
        open_as = Principal(local.id, "open", Scope.ADMIN, True, local.limits)  # as at start
        return Access(authenticator, tokens, clock, open_as)
    if command == "serve":
        await first_admin_key(accounts, settings.data_dir)
    elif not await accounts.list_accounts():
        log.warning(
            "no accounts yet: every call will be refused; create one: order-engine accounts "
            "create NAME --admin && order-engine keys create NAME --scope admin"
        )
    return Access(authenticator, tokens, clock)


async def first_admin_key(accounts: AccountAdmin, data_dir: Path) -> Path | None:
    """With no account at all, make the admin account and an admin key, written to
    `data_dir/admin.key` (mode 0600, the key alone); says where. None when accounts exist."""
    if await accounts.list_accounts():
        return None
    with contextlib.suppress(AccountExistsError):
        await accounts.create_account(ADMIN_ACCOUNT, admin=True)
    _, token = await accounts.create_key(ADMIN_ACCOUNT, Scope.ADMIN)
    path = data_dir / ADMIN_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token.reveal() + "\n")
    os.chmod(path, 0o600)
    log.warning(
        "created the admin account; its API key is in %s (mode 0600): send it as "
        "Authorization: Bearer $(cat %s)",
        path,
        path,
    )
    return path


async def _account(accounts: AccountAdmin, name: str) -> Account:
    with contextlib.suppress(AccountExistsError):
        return await accounts.create_account(name, admin=True)
    return await accounts.find_account(name)
