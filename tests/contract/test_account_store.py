"""The `AccountStore` contract: every implementation (in memory, SQLite through both
runners, PostgreSQL) passes the same tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.sql import SqlAccountStore, create_engine, create_sql_account_store
from order_engine.adapters.sql import migrate as migrate_schema
from order_engine.adapters.sql.runner import AsyncRunner
from order_engine.domain.accounts import (
    Account,
    AccountLimits,
    ApiKey,
    Scope,
    SealedWallet,
    issue_key,
)
from order_engine.domain.errors import (
    AccountExistsError,
    AccountNotFoundError,
    ApiKeyNotFoundError,
    ConflictError,
    DependencyUnavailableError,
)
from order_engine.engine.account_ports import AccountStore
from tests.pgdb import fresh_database

T0 = 1_700_000_000_000
Factory = Callable[[Path, AsyncExitStack], Awaitable[AccountStore]]


async def memory(_tmp_path: Path, _stack: AsyncExitStack) -> AccountStore:
    return InMemoryAccountStore()


async def sqlite(tmp_path: Path, _stack: AsyncExitStack) -> AccountStore:
    return await create_sql_account_store(f"sqlite+aiosqlite:///{tmp_path}/db/orders.db")


async def sqlite_async(tmp_path: Path, _stack: AsyncExitStack) -> AccountStore:
    """SQLite through the async-driver runner PostgreSQL uses."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    await migrate_schema(engine)
    return SqlAccountStore(engine, runner=AsyncRunner(engine))


async def postgresql(_tmp_path: Path, stack: AsyncExitStack) -> AccountStore:
    url = await stack.enter_async_context(fresh_database())
    return await create_sql_account_store(url)


FACTORIES: dict[str, Factory] = {
    "memory": memory,
    "sqlite": sqlite,
    "sqlite-async": sqlite_async,
    "postgresql": postgresql,
}


@pytest.fixture(params=list(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AccountStore]:
    async with AsyncExitStack() as stack:
        made = await FACTORIES[request.param](tmp_path, stack)
        stack.push_async_callback(made.close)
        yield made


def account(name: str = "alice", *, created_ms: int = T0, admin: bool = False) -> Account:
    return Account(str(uuid.uuid4()), name, created_ms, admin)


async def stored_key(
    store: AccountStore, owner: Account, scope: Scope = Scope.TRADE, **kwargs: int
) -> ApiKey:
    key, _ = issue_key(owner, scope, now_ms=kwargs.pop("now_ms", T0), **kwargs)
    await store.create_key(key)
    return key


async def test_create_then_get_by_id_and_name(store: AccountStore) -> None:
    alice = account(admin=True)
    await store.create_account(alice)
    assert await store.get_account(alice.id) == alice
    assert await store.find_account_by_name("alice") == alice
    assert await store.find_account_by_name("bob") is None


async def test_unknown_account_is_not_found(store: AccountStore) -> None:
    with pytest.raises(AccountNotFoundError):
        await store.get_account(str(uuid.uuid4()))


async def test_a_name_is_taken_once(store: AccountStore) -> None:
    first = account()
    await store.create_account(first)
    with pytest.raises(AccountExistsError, match="alice"):
        await store.create_account(account())
    with pytest.raises(AccountExistsError):  # the same id under another name
        await store.create_account(Account(first.id, "other", T0))
    assert [a.name for a in await store.list_accounts()] == ["alice"]


async def test_concurrent_creates_of_one_name_make_one_account(store: AccountStore) -> None:
    results = await asyncio.gather(
        *(store.create_account(account()) for _ in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, AccountExistsError) for r in results if r is not None)


async def test_list_is_oldest_first(store: AccountStore) -> None:
    for name, created in (("carol", T0 + 2), ("alice", T0), ("bob", T0 + 1)):
        await store.create_account(account(name, created_ms=created))
    assert [a.name for a in await store.list_accounts()] == ["alice", "bob", "carol"]


async def test_limits_round_trip_exactly(store: AccountStore) -> None:
    alice = account()
    await store.create_account(alice)
    limits = AccountLimits(max_open_orders=5, max_order_size=Decimal("1234.000000001"))
    updated = await store.set_limits(alice.id, limits)
    assert updated.limits == limits
    got = await store.get_account(alice.id)
    assert got.limits == limits
    assert got.limits.max_order_size == Decimal("1234.000000001")
    assert (await store.set_limits(alice.id, AccountLimits())).limits == AccountLimits()
    with pytest.raises(AccountNotFoundError):
        await store.set_limits(str(uuid.uuid4()), limits)


async def test_wallet_is_set_once_and_never_replaced(store: AccountStore) -> None:
    alice = account()
    await store.create_account(alice)
    first = SealedWallet("PubKey1111", bytes(range(256)) * 2)
    assert await store.set_wallet(alice.id, first) == first
    assert await store.set_wallet(alice.id, SealedWallet("PubKey2222", b"other")) == first
    assert (await store.get_account(alice.id)).wallet == first
    with pytest.raises(AccountNotFoundError):
        await store.set_wallet(str(uuid.uuid4()), first)


async def test_racing_wallets_agree_on_one(store: AccountStore) -> None:
    alice = account()
    await store.create_account(alice)
    wallets = [SealedWallet(f"Pub{i}", bytes([i]) * 93) for i in range(4)]
    got = await asyncio.gather(*(store.set_wallet(alice.id, w) for w in wallets))
    assert len(set(got)) == 1
    assert (await store.get_account(alice.id)).wallet == got[0]


async def test_account_created_with_a_wallet_keeps_it(store: AccountStore) -> None:
    wallet = SealedWallet("Pub", b"\x00\x01sealed\xff")
    alice = Account(str(uuid.uuid4()), "alice", T0, wallet=wallet)
    await store.create_account(alice)
    assert (await store.get_account(alice.id)).wallet == wallet


async def test_keys_round_trip_and_list_per_account(store: AccountStore) -> None:
    alice, bob = account(admin=True), account("bob")
    await store.create_account(alice)
    await store.create_account(bob)
    admin_key = await stored_key(store, alice, Scope.ADMIN, now_ms=T0, expires_ms=T0 + 5)
    read_key = await stored_key(store, alice, Scope.READ, now_ms=T0 + 1)
    bob_key = await stored_key(store, bob, now_ms=T0 + 2)
    assert await store.find_key(admin_key.id) == admin_key
    assert await store.find_key("0" * 16) is None
    assert await store.list_keys(alice.id) == [admin_key, read_key]
    assert await store.list_keys(bob.id) == [bob_key]
    assert await store.list_keys() == [admin_key, read_key, bob_key]
    assert await store.list_keys(str(uuid.uuid4())) == []


async def test_a_key_needs_its_account_and_a_fresh_id(store: AccountStore) -> None:
    ghost = account("ghost")
    with pytest.raises(AccountNotFoundError):
        await stored_key(store, ghost)
    alice = account()
    await store.create_account(alice)
    key = await stored_key(store, alice)
    with pytest.raises(ConflictError):
        await store.create_key(key)


async def test_revoke_is_idempotent_and_keeps_the_first_time(store: AccountStore) -> None:
    alice = account()
    await store.create_account(alice)
    key = await stored_key(store, alice)
    revoked = await store.revoke_key(key.id, T0 + 10)
    assert revoked.revoked_ms == T0 + 10
    assert revoked.state(T0 + 11) == "revoked"
    again = await store.revoke_key(key.id, T0 + 20)
    assert again.revoked_ms == T0 + 10
    assert (await store.find_key(key.id)) == again
    with pytest.raises(ApiKeyNotFoundError):
        await store.revoke_key("f" * 16, T0)


async def test_stored_key_holds_only_a_digest(store: AccountStore) -> None:
    alice = account()
    await store.create_account(alice)
    key, token = issue_key(alice, Scope.TRADE, now_ms=T0)
    await store.create_key(key)
    found = await store.find_key(key.id)
    assert found is not None
    assert token.secret not in found.secret_hash
    assert found.matches(token.secret)
    assert not found.matches(token.secret[:-1] + ("A" if token.secret[-1] != "A" else "B"))


async def test_closed_store_is_unavailable(store: AccountStore) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(DependencyUnavailableError):
        await store.list_accounts()
    with pytest.raises(DependencyUnavailableError):
        await store.create_account(account())


async def test_a_shared_secret_is_made_once_and_then_always_the_same(
    store: AccountStore,
) -> None:
    first, *again = await asyncio.gather(*(store.shared_secret("stream-tokens") for _ in range(4)))
    assert len(first) == 32 and all(other == first for other in again)
    assert await store.shared_secret("stream-tokens") == first
    assert await store.shared_secret("another") != first


async def test_two_sql_stores_on_one_database_share_the_secret(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    one, two = await create_sql_account_store(url), await create_sql_account_store(url)
    try:
        assert await one.shared_secret("s") == await two.shared_secret("s")
    finally:
        await one.close()
        await two.close()
