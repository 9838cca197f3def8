"""`Authenticator`: a valid key gives its principal; every wrong key gets one message that
never contains the key; scopes are enforced; a revoked key stops within the cache's time."""

from __future__ import annotations

import logging

import pytest

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.domain.accounts import ApiKey, KeyToken, Principal, Scope
from order_engine.domain.errors import ForbiddenError, UnauthenticatedError
from order_engine.engine.accounts import AccountAdmin
from order_engine.engine.auth import REJECTED, Authenticator, bearer_token
from tests.unit.fakes import FakeClock


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counting(InMemoryAccountStore):
    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0

    async def find_key(self, key_id: str) -> ApiKey | None:
        self.key_reads += 1
        return await super().find_key(key_id)


@pytest.fixture
def store() -> Counting:
    return Counting()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def auth(store: Counting, clock: FakeClock, ticks: Ticks) -> Authenticator:
    return Authenticator(store, clock, monotonic=ticks)


@pytest.fixture
def admin(store: Counting, clock: FakeClock, auth: Authenticator) -> AccountAdmin:
    return AccountAdmin(store, clock, on_revoke=auth.forget)


async def new_key(admin: AccountAdmin, name: str = "alice", **kwargs: object) -> KeyToken:
    try:
        await admin.find_account(name)
    except Exception:
        await admin.create_account(name, admin=name == "root")
    _, token = await admin.create_key(name, **kwargs)  # type: ignore[arg-type]
    return token


def bearer(token: KeyToken) -> str:
    return f"Bearer {token.reveal()}"


async def test_a_valid_key_gives_its_principal(auth: Authenticator, admin: AccountAdmin) -> None:
    token = await new_key(admin, scope=Scope.READ)
    alice = await admin.find_account("alice")
    assert await auth.authenticate(bearer(token)) == Principal(
        alice.id, token.key_id, Scope.READ, admin=False
    )
    assert (await auth.authenticate(f"bearer   {token.reveal()}  ")).key_id == token.key_id
    root = await auth.authenticate(bearer(await new_key(admin, "root", scope=Scope.ADMIN)))
    assert root.admin and root.can(Scope.ADMIN)


async def wrong_headers(admin: AccountAdmin, clock: FakeClock) -> list[str | None]:
    good = await new_key(admin)
    revoked = await new_key(admin)
    await admin.revoke_key(revoked.key_id)
    expiring = await new_key(admin, expires="1s")
    clock.ms += 2_000
    secret = good.secret
    other = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    return [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {good.reveal()}",
        good.reveal(),  # no scheme
        f"Bearer oe_{good.key_id}_{other}",  # wrong secret
        f"Bearer oe_{'0' * 16}_{secret}",  # unknown key id
        f"Bearer oe_{good.key_id}_{secret[:20]}",  # too short to be a key
        f"Bearer {good.reveal()}x!",
        bearer(revoked),
        bearer(expiring),
    ]


async def test_every_wrong_key_gets_one_message_without_the_key(
    auth: Authenticator,
    admin: AccountAdmin,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = await wrong_headers(admin, clock)
    for header in headers:
        with pytest.raises(UnauthenticatedError) as caught:
            await auth.authenticate(header)
        error = caught.value
        assert (error.code, error.message, str(error), error.field) == (
            "unauthenticated", REJECTED, REJECTED, None
        )  # fmt: skip
    credentials = [h.split()[-1] for h in headers if h and h.strip() != "Bearer"]
    for credential in credentials:
        assert credential not in caplog.text
        assert credential[len("oe_0123456789abcdef_") :] not in caplog.text  # the secret
    assert "revoked" in caplog.text and "expired" in caplog.text  # the log says why


async def test_require_enforces_scopes(auth: Authenticator, admin: AccountAdmin) -> None:
    reader = await auth.authenticate(bearer(await new_key(admin, scope=Scope.READ)))
    auth.require(reader, Scope.READ)
    with pytest.raises(ForbiddenError, match="trade scope") as caught:
        auth.require(reader, Scope.TRADE)
    assert caught.value.code == "forbidden"
    trader = await auth.authenticate(bearer(await new_key(admin, scope=Scope.TRADE)))
    auth.require(trader, Scope.TRADE)
    with pytest.raises(ForbiddenError, match="admin"):
        auth.require(trader, Scope.ADMIN)


async def test_a_key_revoked_elsewhere_stops_within_the_cache_time(
    store: Counting, clock: FakeClock, ticks: Ticks, admin: AccountAdmin, auth: Authenticator
) -> None:
    token = await new_key(admin)
    await auth.authenticate(bearer(token))
    await auth.authenticate(bearer(token))
    assert store.key_reads == 1  # the second call was answered from the cache
    other_process = AccountAdmin(store, clock)  # revokes without telling this authenticator
    await other_process.revoke_key(token.key_id)
    ticks.now += 1.0
    await auth.authenticate(bearer(token))  # still cached: at most the cache time
    ticks.now += 1.01
    with pytest.raises(UnauthenticatedError):
        await auth.authenticate(bearer(token))


async def test_a_key_revoked_here_stops_at_once(admin: AccountAdmin, auth: Authenticator) -> None:
    token = await new_key(admin)
    await auth.authenticate(bearer(token))
    await admin.revoke_key(token.key_id)
    with pytest.raises(UnauthenticatedError):
        await auth.authenticate(bearer(token))


async def test_expiry_is_checked_on_every_call_even_when_cached(
    clock: FakeClock, admin: AccountAdmin, auth: Authenticator
) -> None:
    token = await new_key(admin, expires="1s")
    await auth.authenticate(bearer(token))
    clock.ms += 1_000
    with pytest.raises(UnauthenticatedError):
        await auth.authenticate(bearer(token))


async def test_a_wrong_secret_fails_even_when_the_key_is_cached(
    admin: AccountAdmin, auth: Authenticator
) -> None:
    token = await new_key(admin)
    await auth.authenticate(bearer(token))
    forged = KeyToken(token.key_id, "x" * 43)
    with pytest.raises(UnauthenticatedError):
        await auth.authenticate(bearer(forged))


async def test_no_cache_reads_every_time_and_the_cache_is_bounded(
    store: Counting, clock: FakeClock, ticks: Ticks, admin: AccountAdmin
) -> None:
    uncached = Authenticator(store, clock, cache_ttl_s=0, monotonic=ticks)
    token = await new_key(admin)
    for _ in range(3):
        await uncached.authenticate(bearer(token))
    assert store.key_reads == 3
    small = Authenticator(store, clock, cache_size=2, monotonic=ticks)
    tokens = [await new_key(admin) for _ in range(3)]
    for t in tokens:
        await small.authenticate(bearer(t))
    store.key_reads = 0
    await small.authenticate(bearer(tokens[0]))  # the oldest was dropped
    await small.authenticate(bearer(tokens[2]))
    assert store.key_reads == 1


def test_bearer_header_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Token abc") is None
    token = KeyToken("0123456789abcdef", "s" * 43)
    parsed = bearer_token(f"BEARER {token.reveal()}")
    assert parsed is not None and parsed.secret == token.secret
