"""Accounts, keys and principals in the domain: scopes, key tokens and digests, names,
expiries, limits; no repr shows a secret."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

import pytest

from order_engine.domain.accounts import (
    Account,
    AccountLimits,
    KeyToken,
    Principal,
    Scope,
    SealedWallet,
    check_account_name,
    hash_secret,
    issue_key,
    parse_expiry,
    parse_token,
)
from order_engine.domain.errors import RequestError

T0 = 1_700_000_000_000
ALICE = Account("acc-1", "alice", T0)
ROOT = Account("acc-0", "root", T0, admin=True)


def test_scopes_are_ordered() -> None:
    assert Scope.ADMIN.covers(Scope.TRADE) and Scope.TRADE.covers(Scope.READ)
    assert Scope.READ.covers(Scope.READ)
    assert not Scope.READ.covers(Scope.TRADE) and not Scope.TRADE.covers(Scope.ADMIN)
    assert Scope.parse(" Trade ") is Scope.TRADE
    with pytest.raises(RequestError, match="read, trade, admin"):
        Scope.parse("owner")


def test_principal_can_only_within_its_scope_and_account() -> None:
    reader = Principal("acc-1", "k1", Scope.READ, admin=False)
    assert reader.can(Scope.READ) and not reader.can(Scope.TRADE)
    trader = Principal("acc-1", "k2", Scope.TRADE, admin=False)
    assert trader.can(Scope.TRADE) and not trader.can(Scope.ADMIN)
    # an admin scope on a plain account (made elsewhere) still cannot do admin things
    assert not Principal("acc-1", "k3", Scope.ADMIN, admin=False).can(Scope.ADMIN)
    assert Principal("acc-0", "k4", Scope.ADMIN, admin=True).can(Scope.ADMIN)
    assert not Principal("acc-0", "k5", Scope.READ, admin=True).can(Scope.TRADE)


def test_principal_sees_its_own_and_an_admin_sees_all() -> None:
    alice = Principal("acc-1", "k1", Scope.READ, admin=False)
    assert alice.may_see("acc-1") and not alice.may_see("acc-2") and not alice.may_see(None)
    assert Principal("acc-0", "k", Scope.READ, admin=True).may_see("acc-2")


def test_issued_key_is_a_token_whose_digest_is_stored() -> None:
    key, token = issue_key(ALICE, Scope.TRADE, now_ms=T0)
    text = token.reveal()
    assert text.startswith(f"oe_{key.id}_")
    assert len(key.id) == 16 and len(token.secret) >= 43  # 32 random bytes
    assert key.secret_hash == hash_secret(key.id, token.secret)
    assert token.secret not in key.secret_hash
    parsed = parse_token(text)
    assert parsed is not None and parsed.key_id == key.id and parsed.secret == token.secret
    assert key.matches(parsed.secret)
    assert key.account_id == "acc-1" and key.created_ms == T0 and key.state(T0) == "active"


def test_keys_are_unique_and_a_digest_is_bound_to_its_key_id() -> None:
    tokens = [issue_key(ALICE, Scope.READ, now_ms=T0)[1] for _ in range(50)]
    assert len({t.key_id for t in tokens}) == 50 and len({t.secret for t in tokens}) == 50
    assert hash_secret("a" * 16, "s") != hash_secret("b" * 16, "s")


@pytest.mark.parametrize(
    "text",
    ["", "oe_", "oe_abc_def", "xx_0123456789abcdef_" + "a" * 43, "oe_0123456789ABCDEF_" + "a" * 43,
     "oe_0123456789abcdef_" + "a" * 42, "oe_0123456789abcdef_" + "a" * 43 + " ",
     "oe_0123456789abcdef_" + "a" * 40 + "!!!"],
)  # fmt: skip
def test_malformed_tokens_are_not_keys(text: str) -> None:
    assert parse_token(text) is None


def test_no_repr_shows_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    key, token = issue_key(ALICE, Scope.TRADE, now_ms=T0)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("key %s %r %s %r", token, token, key, key)
    shown = f"{token} {token!r} {key} {key!r} {[token]} {caplog.text}"
    assert token.secret not in shown and key.secret_hash not in shown
    assert key.id in shown  # the public id is fine to show
    sealed = SealedWallet("Pub", b"\x01" * 93)
    assert repr(sealed) == "SealedWallet(public_key='Pub', 93 bytes sealed)"
    assert isinstance(token, KeyToken)


def test_admin_keys_need_admin_accounts_and_expiry_in_the_future() -> None:
    with pytest.raises(RequestError, match="admin account"):
        issue_key(ALICE, Scope.ADMIN, now_ms=T0)
    assert issue_key(ROOT, Scope.ADMIN, now_ms=T0)[0].scope is Scope.ADMIN
    with pytest.raises(RequestError, match="future"):
        issue_key(ALICE, Scope.READ, now_ms=T0, expires_ms=T0)


def test_key_states() -> None:
    key, _ = issue_key(ALICE, Scope.READ, now_ms=T0, expires_ms=T0 + 100)
    assert key.state(T0 + 99) == "active" and key.is_active(T0 + 99)
    assert key.state(T0 + 100) == "expired" and not key.is_active(T0 + 100)
    assert replace(key, revoked_ms=T0 + 1).state(T0 + 2) == "revoked"


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("30d", T0 + 30 * 86_400_000),
        ("12h", T0 + 12 * 3_600_000),
        ("45m", T0 + 45 * 60_000),
        ("90s", T0 + 90_000),
        ("2027-01-01T00:00:00Z", 1_798_761_600_000),
        ("2027-01-01T01:00:00+01:00", 1_798_761_600_000),
        ("2027-01-01", 1_798_761_600_000),  # no zone: UTC
    ],
)
def test_expiry_forms(text: str, expected_ms: int) -> None:
    assert parse_expiry(text, now_ms=T0) == expected_ms


@pytest.mark.parametrize("text", ["0d", "2020-01-01T00:00:00Z", "soon", "30 days", "-1d"])
def test_bad_or_past_expiries_are_refused(text: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_expiry(text, now_ms=T0)
    assert caught.value.field == "expires"


def test_account_names() -> None:
    assert check_account_name("  Alice ") == "alice"
    assert check_account_name("desk-1.fx_b") == "desk-1.fx_b"
    for bad in ("", "-x", "a b", "é", "x" * 65, "a/b"):
        with pytest.raises(RequestError):
            check_account_name(bad)


def test_limits_fall_back_to_defaults_and_must_be_positive() -> None:
    defaults = AccountLimits(10, 60, Decimal(5000))
    assert AccountLimits().over(defaults) == defaults
    own = AccountLimits(max_open_orders=2, max_order_size=Decimal("0.5"))
    assert own.over(defaults) == AccountLimits(2, 60, Decimal("0.5"))
    for bad in ({"max_open_orders": 0}, {"orders_per_minute": -1}, {"max_order_size": Decimal(0)}):
        with pytest.raises(RequestError):
            AccountLimits(**bad)
