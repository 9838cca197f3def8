"""`SqlAccountStore`: accounts and API keys in SQLite or PostgreSQL via SQLAlchemy Core.

Every write is one short transaction through the store's runner (see `runner.py`); the
rare writes here need no group commit. Reads (one per authenticated request, unless the
authenticator's short cache answers) run like the order store's.
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from order_engine.adapters.sql import queries as q
from order_engine.adapters.sql.engines import create_engine
from order_engine.adapters.sql.errors import database_errors
from order_engine.adapters.sql.runner import SqlRunner, T, Work, runner_for
from order_engine.adapters.sql.schema import ensure_migrated
from order_engine.adapters.sql.schema import migrate as migrate_schema
from order_engine.adapters.sql.tables import accounts, api_keys, engine_secrets
from order_engine.domain.accounts import Account, AccountLimits, ApiKey, Scope, SealedWallet
from order_engine.domain.errors import (
    AccountExistsError,
    AccountNotFoundError,
    ApiKeyNotFoundError,
    ConflictError,
    DependencyUnavailableError,
    EngineError,
)

ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("account_id"))
ACCOUNT_BY_NAME = select(accounts).where(accounts.c.name == bindparam("name"))
ALL_ACCOUNTS = select(accounts).order_by(accounts.c.created_ms, accounts.c.id)
KEY_BY_ID = select(api_keys).where(api_keys.c.id == bindparam("key_id"))
ALL_KEYS = select(api_keys).order_by(api_keys.c.created_ms, api_keys.c.id)
KEYS_OF_ACCOUNT = ALL_KEYS.where(api_keys.c.account_id == bindparam("account_id"))
SECRET = select(engine_secrets.c.value).where(engine_secrets.c.name == bindparam("name"))


SHARED_SECRET_BYTES = 32


class SqlAccountStore:
    """`runner` defaults to the fastest one for the engine's database."""

    def __init__(self, engine: AsyncEngine, *, runner: SqlRunner | None = None) -> None:
        self._engine = engine
        self._runner = runner if runner is not None else runner_for(engine)
        self._closed = False

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def create_account(self, account: Account) -> None:
        row = account_to_row(account)
        exists = AccountExistsError(f"an account named {account.name!r} exists")

        def work(conn: Connection) -> None:
            same = or_(accounts.c.name == account.name, accounts.c.id == account.id)
            if conn.execute(select(accounts.c.id).where(same)).first() is not None:
                raise exists
            conn.execute(insert(accounts).values(row))

        await self._write(work, on_conflict=exists)

    async def get_account(self, account_id: str) -> Account:
        rows = await self._read(ACCOUNT_BY_ID, {"account_id": account_id})
        if not rows:
            raise AccountNotFoundError(f"account {account_id} not found")
        return row_to_account(rows[0])

    async def find_account_by_name(self, name: str) -> Account | None:
        rows = await self._read(ACCOUNT_BY_NAME, {"name": name})
        return row_to_account(rows[0]) if rows else None

    async def list_accounts(self) -> builtins.list[Account]:
        return [row_to_account(r) for r in await self._read(ALL_ACCOUNTS)]

    async def set_limits(self, account_id: str, limits: AccountLimits) -> Account:
        def work(conn: Connection) -> Account:
            change = update(accounts).where(accounts.c.id == account_id)
            conn.execute(change.values(limits_to_row(limits)))
            return _account_in(conn, account_id)

        return await self._write(work)

    async def set_wallet(self, account_id: str, wallet: SealedWallet) -> SealedWallet:
        def work(conn: Connection) -> SealedWallet:
            unset = (accounts.c.id == account_id) & accounts.c.wallet_sealed.is_(None)
            conn.execute(update(accounts).where(unset).values(wallet_to_row(wallet)))
            stored = _account_in(conn, account_id).wallet
            assert stored is not None
            return stored

        return await self._write(work)

    async def create_key(self, key: ApiKey) -> None:
        row = key_to_row(key)

        def work(conn: Connection) -> None:
            _account_in(conn, key.account_id)
            conn.execute(insert(api_keys).values(row))

        await self._write(work, on_conflict=ConflictError(f"key {key.id} exists"))

    async def find_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(KEY_BY_ID, {"key_id": key_id})
        return row_to_key(rows[0]) if rows else None

    async def list_keys(self, account_id: str | None = None) -> builtins.list[ApiKey]:
        if account_id is None:
            rows = await self._read(ALL_KEYS)
        else:
            rows = await self._read(KEYS_OF_ACCOUNT, {"account_id": account_id})
        return [row_to_key(r) for r in rows]

    async def revoke_key(self, key_id: str, revoked_ms: int) -> ApiKey:
        def work(conn: Connection) -> ApiKey:
            active = (api_keys.c.id == key_id) & api_keys.c.revoked_ms.is_(None)
            conn.execute(update(api_keys).where(active).values(revoked_ms=revoked_ms))
            row = conn.execute(KEY_BY_ID, {"key_id": key_id}).mappings().first()
            if row is None:
                raise ApiKeyNotFoundError(f"key {key_id} not found")
            return row_to_key(row)

        return await self._write(work)

    async def shared_secret(self, name: str) -> bytes:
        found = await self._read(SECRET, {"name": name})
        if found:
            return bytes(found[0]["value"])
        fresh = {"name": name, "value": secrets.token_bytes(SHARED_SECRET_BYTES)}

        def work(conn: Connection) -> None:
            conn.execute(insert(engine_secrets), fresh)

        with contextlib.suppress(ConflictError):  # another process made it first: theirs
            await self._write(work, on_conflict=ConflictError("made by another process"))
        return bytes((await self._read(SECRET, {"name": name}))[0]["value"])

    async def ping(self) -> None:
        await self._read(q.PING)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._runner.close()
        await self._engine.dispose()

    async def _write(self, work: Work[T], *, on_conflict: EngineError | None = None) -> T:
        """Run `work` in a transaction; a constraint violation raises `on_conflict` (when
        given) in place of the generic `ConflictError`."""
        self._check_open()
        with database_errors():
            try:
                return await self._runner.write(work)
            except sa_exc.IntegrityError as exc:
                if on_conflict is None:
                    raise
                raise on_conflict from exc

    async def _read(
        self, query: Select[Any], params: dict[str, Any] | None = None
    ) -> builtins.list[Any]:
        self._check_open()

        with database_errors():
            return await self._runner.fetch(query, params)

    def _check_open(self) -> None:
        if self._closed:
            raise DependencyUnavailableError("account store is closed")


def _account_in(conn: Connection, account_id: str) -> Account:
    row = conn.execute(ACCOUNT_BY_ID, {"account_id": account_id}).mappings().first()
    if row is None:
        raise AccountNotFoundError(f"account {account_id} not found")
    return row_to_account(row)


def limits_to_row(limits: AccountLimits) -> dict[str, Any]:
    return {
        "max_open_orders": limits.max_open_orders,
        "orders_per_minute": limits.orders_per_minute,
        "max_order_size": limits.max_order_size,
    }


def wallet_to_row(wallet: SealedWallet | None) -> dict[str, Any]:
    return {
        "wallet_public_key": None if wallet is None else wallet.public_key,
        "wallet_sealed": None if wallet is None else wallet.ciphertext,
    }


def account_to_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "admin": account.admin,
        "created_ms": account.created_ms,
        **limits_to_row(account.limits),
        **wallet_to_row(account.wallet),
    }


def row_to_account(row: Mapping[Any, Any]) -> Account:
    sealed = row["wallet_sealed"]
    wallet = None if sealed is None else SealedWallet(row["wallet_public_key"], bytes(sealed))
    limits = AccountLimits(row["max_open_orders"], row["orders_per_minute"], row["max_order_size"])
    return Account(row["id"], row["name"], row["created_ms"], bool(row["admin"]), limits, wallet)


def key_to_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "account_id": key.account_id,
        "scope": key.scope.value,
        "secret_hash": key.secret_hash,
        "created_ms": key.created_ms,
        "expires_ms": key.expires_ms,
        "revoked_ms": key.revoked_ms,
    }


def row_to_key(row: Mapping[Any, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        account_id=row["account_id"],
        scope=Scope(row["scope"]),
        secret_hash=row["secret_hash"],
        created_ms=row["created_ms"],
        expires_ms=row["expires_ms"],
        revoked_ms=row["revoked_ms"],
    )


async def create_sql_account_store(
    url: str, *, migrate: bool = True, require_migrated: bool = False
) -> SqlAccountStore:
    """A ready account store for `url`, on an engine of its own with a small pool (its
    reads are point queries). `migrate` and `require_migrated` as for `create_sql_store`."""
    engine = create_engine(url, pool_size=5, max_overflow=5)
    try:
        if migrate:
            await migrate_schema(engine)
        elif require_migrated:
            await ensure_migrated(engine)
        return SqlAccountStore(engine)
    except BaseException:
        await engine.dispose()
        raise
