"""`order-engine accounts create|list|limits` and `order-engine keys create|list|revoke`:
accounts, their limits and API keys in the database the settings name (`DATABASE_URL`,
else the embedded SQLite file, migrated first; PostgreSQL must have been migrated by
`order-engine migrate`). `accounts fund` asks the running engine (its admin endpoint,
`fund_cli`).

`keys create` prints the key alone on stdout (`KEY=$(order-engine keys create alice)`) and
its id on stderr: the key is shown this once; only its digest is stored. Nothing else ever
prints a key. `accounts limits NAME` shows the account's limits (and where each comes
from); with flags it first changes them (`default`: back to the setting's). Exit 0; 1 when
the account or key is not found or the name is taken; 2 for bad input or settings.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from order_engine import fund_cli
from order_engine.domain.accounts import Account, ApiKey, Scope
from order_engine.domain.amounts import NotPlainDecimalError, parse_plain_decimal
from order_engine.domain.errors import EngineError, RequestError
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings

Command = Callable[[AccountAdmin], Awaitable[None]]
# each limit's flag, `AccountLimits` field and whether it is a whole number
LIMIT_FLAGS = (
    ("--max-open-orders", "max_open_orders", True),
    ("--orders-per-minute", "orders_per_minute", True),
    ("--max-order-usd", "max_order_size", False),
)
LIMIT_ROWS = (
    ("max open orders", "max_open_orders", "ACCOUNT_MAX_OPEN_ORDERS"),
    ("orders per minute", "orders_per_minute", "ACCOUNT_ORDERS_PER_MINUTE"),
    ("max order USD", "max_order_size", "ACCOUNT_MAX_ORDER_USD"),
)


def add_commands(sub: Any) -> None:
    """`accounts …` and `keys …` under `sub` (the CLI's subparsers)."""
    accounts = sub.add_parser("accounts", help="accounts: create, list, fund")
    inner = accounts.add_subparsers(dest="accounts_command", required=True)
    create = inner.add_parser("create", help="create an account with its wallet")
    create.add_argument("name", help="1-64 letters, digits, _ . -")
    create.add_argument("--admin", action="store_true", help="an admin account")
    create.set_defaults(run=lambda a: _run(lambda admin: create_account(admin, a.name, a.admin)))
    listing = inner.add_parser("list", help="every account")
    listing.set_defaults(run=lambda a: _run(list_accounts))
    fund_cli.add_command(inner)
    limits = inner.add_parser("limits", help="show or change an account's limits (its own "
                              "overrides of the ACCOUNT_* settings)")  # fmt: skip
    limits.add_argument("name", help="the account's name or id")
    for (flag, _, whole), (label, _, setting) in zip(LIMIT_FLAGS, LIMIT_ROWS, strict=True):
        what = "N" if whole else "USD"
        helped = f"the account's {label} ('default': {setting}'s)"
        limits.add_argument(flag, metavar=f"{what}|default", help=helped)
    limits.set_defaults(
        run=lambda a: _run(lambda admin: account_limits(admin, a.name, a, Settings()))
    )

    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    inner = keys.add_subparsers(dest="keys_command", required=True)
    create = inner.add_parser("create", help="a new key for an account (shown once)")
    create.add_argument("account", help="the account's name or id")
    create.add_argument("--scope", choices=[s.value for s in Scope], default=Scope.TRADE.value)
    create.add_argument(
        "--expires", default=None, help="30d, 12h, 45m, 90s or an ISO time (default: never)"
    )
    create.set_defaults(
        run=lambda a: _run(lambda admin: create_key(admin, a.account, a.scope, a.expires))
    )
    listing = inner.add_parser("list", help="keys (never their secrets)")
    listing.add_argument("account", nargs="?", default=None, help="one account's (name or id)")
    listing.set_defaults(run=lambda a: _run(lambda admin: list_keys(admin, a.account)))
    revoke = inner.add_parser("revoke", help="revoke a key (at once; again is a no-op)")
    revoke.add_argument("key_id", help="the key's id (the part after oe_)")
    revoke.set_defaults(run=lambda a: _run(lambda admin: revoke_key(admin, a.key_id)))


def _run(command: Command) -> int:
    from order_engine.bootstrap import ConfigurationError, account_admin  # noqa: PLC0415

    async def main() -> None:
        async with account_admin(Settings()) as admin:
            await command(admin)

    try:
        asyncio.run(main())
    except (ConfigurationError, RequestError) as exc:
        return _fail(exc.message if isinstance(exc, EngineError) else str(exc), 2)
    except EngineError as exc:
        return _fail(exc.message, 1)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"order-engine: {message}", file=sys.stderr)
    return status


async def create_account(admin: AccountAdmin, name: str, is_admin: bool) -> None:
    account = await admin.create_account(name, admin=is_admin)
    wallet = account.wallet.public_key if account.wallet else "none (WALLET_MASTER_KEY unset)"
    role = "admin account" if account.admin else "account"
    print(f"created {role} {account.name}: id {account.id}, wallet {wallet}")


async def list_accounts(admin: AccountAdmin) -> None:
    rows = [_account_row(a) for a in await admin.list_accounts()]
    print(_table(("ID", "NAME", "ROLE", "WALLET", "LIMITS", "CREATED"), rows))


async def account_limits(admin: AccountAdmin, name: str, args: Any, settings: Settings) -> None:
    """Change the limits named by flags (if any), then show the account's limits: its own,
    or the setting's default (0 there: no limit)."""
    changes = limit_changes(args)
    account = await (admin.set_limits(name, changes) if changes else admin.find_account(name))
    defaults = settings.account_limits
    rows = []
    for label, field, setting in LIMIT_ROWS:
        own, default = getattr(account.limits, field), getattr(defaults, field)
        value = own if own is not None else default
        shown = "no limit" if value is None else str(value)
        rows.append((label, shown, "this account" if own is not None else setting))
    print(f"{'new limits' if changes else 'limits'} of {account.name}:")
    print(_table(("LIMIT", "VALUE", "FROM"), rows))


def limit_changes(args: Any) -> dict[str, object]:
    """The limits the flags change: a positive value, or None for `default`."""
    changes: dict[str, object] = {}
    for flag, field, whole in LIMIT_FLAGS:
        text = getattr(args, flag[2:].replace("-", "_"))
        if text is not None:
            default = text.strip().lower() == "default"
            changes[field] = None if default else _positive(text.strip(), flag, whole)
    return changes


def _positive(text: str, flag: str, whole: bool) -> int | Decimal:
    kind = "a whole number above 0" if whole else "an amount above 0"
    try:
        value = parse_plain_decimal(text)
    except NotPlainDecimalError:
        value = Decimal(0)
    if value <= 0 or (whole and value != value.to_integral_value()):
        raise RequestError(f"{flag} must be {kind}, or 'default'", field=flag)
    return int(value) if whole else value


async def create_key(admin: AccountAdmin, account: str, scope: str, expires: str | None) -> None:
    key, token = await admin.create_key(account, Scope.parse(scope), expires=expires)
    owner = await admin.find_account(key.account_id)
    until = _time(key.expires_ms) if key.expires_ms is not None else "never"
    print(
        f"order-engine: key {key.id} for {owner.name} (scope {key.scope}, expires {until}); "
        "this is the only time it is shown:",
        file=sys.stderr,
    )
    print(token.reveal())


async def list_keys(admin: AccountAdmin, account: str | None) -> None:
    names = {a.id: a.name for a in await admin.list_accounts()}
    now_ms = admin.now_ms()
    rows = [_key_row(k, names.get(k.account_id, k.account_id), now_ms)
            for k in await admin.list_keys(account)]  # fmt: skip
    print(_table(("KEY ID", "ACCOUNT", "SCOPE", "STATE", "CREATED", "EXPIRES", "REVOKED"), rows))


async def revoke_key(admin: AccountAdmin, key_id: str) -> None:
    before = await admin.find_key(key_id)
    key = await admin.revoke_key(key_id)
    owner = (await admin.find_account(key.account_id)).name
    if before.revoked_ms is not None:
        print(f"key {key.id} of {owner} was already revoked at {_time(before.revoked_ms)}")
    else:
        print(f"revoked key {key.id} of {owner}")


def _account_row(account: Account) -> tuple[str, ...]:
    limits = account.limits
    parts = [
        f"open {limits.max_open_orders}" if limits.max_open_orders else "",
        f"{limits.orders_per_minute}/min" if limits.orders_per_minute else "",
        f"max {limits.max_order_size} USD" if limits.max_order_size else "",
    ]
    return (
        account.id,
        account.name,
        "admin" if account.admin else "user",
        account.wallet.public_key if account.wallet else "-",
        ", ".join(p for p in parts if p) or "defaults",
        _time(account.created_ms),
    )


def _key_row(key: ApiKey, owner: str, now_ms: int) -> tuple[str, ...]:
    return (
        key.id,
        owner,
        key.scope.value,
        key.state(now_ms),
        _time(key.created_ms),
        _time(key.expires_ms) if key.expires_ms is not None else "never",
        _time(key.revoked_ms) if key.revoked_ms is not None else "-",
    )


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]  # fmt: skip
    return "\n".join(lines)
