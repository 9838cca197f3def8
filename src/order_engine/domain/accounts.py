"""Accounts, their API keys, and who a request acts for.

An account owns orders and a wallet. An API key lets a client act for one account within a
scope: `read` < `trade` < `admin` (admin scope only on an admin account). A key, as a
client sends it, is `oe_<key id>_<secret>`: the key id (16 hex digits) is public and names
the key in lists, logs and the audit trail; the secret is 32 random bytes from `secrets`,
shown once when the key is made. Only a SHA-256 digest of the secret is stored (the
secret's own entropy makes a slow hash unnecessary) and it is compared in constant time.
No object here shows a secret in its `repr`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from order_engine.domain.errors import RequestError

KEY_PREFIX = "oe"
KEY_ID_BYTES = 8  # 16 hex digits
SECRET_BYTES = 32  # 43 URL-safe base64 characters
_TOKEN = re.compile(r"oe_([0-9a-f]{16})_([A-Za-z0-9_-]{43,128})")
_HASH_CONTEXT = b"order-engine api key v1\x00"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DURATION = re.compile(r"(\d{1,6})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
T = TypeVar("T")


class Scope(StrEnum):
    """What a key may do; each scope includes the ones before it."""

    READ = "read"  # see the account's orders, events, streams and balances
    TRADE = "trade"  # submit and cancel orders
    ADMIN = "admin"  # simulation controls and every account's orders (admin accounts only)

    def covers(self, needed: Scope) -> bool:
        return _RANK[self] >= _RANK[needed]

    @classmethod
    def parse(cls, text: str, *, field: str = "scope") -> Scope:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise RequestError(f"{field} must be one of {names}", field=field) from None


_RANK = {Scope.READ: 0, Scope.TRADE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """An account's own limits; None takes the engine's per-account default (settings).
    `max_order_size` is the largest order's value in USD."""

    max_open_orders: int | None = None
    orders_per_minute: int | None = None
    max_order_size: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_open_orders", "orders_per_minute", "max_order_size"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise RequestError(f"{name} must be positive", field=name)

    def over(self, defaults: AccountLimits) -> AccountLimits:
        """These limits, with `defaults` where none is set."""
        return AccountLimits(
            _first(self.max_open_orders, defaults.max_open_orders),
            _first(self.orders_per_minute, defaults.orders_per_minute),
            _first(self.max_order_size, defaults.max_order_size),
        )


def _first(value: T | None, default: T | None) -> T | None:
    return value if value is not None else default


@dataclass(frozen=True, slots=True)
class SealedWallet:
    """An account's Solana keypair as stored: its public key (base58, in the clear, to read
    balances) and its secret encrypted by the wallet vault (nonce and tag included)."""

    public_key: str
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"SealedWallet(public_key={self.public_key!r}, {len(self.ciphertext)} bytes sealed)"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str  # unique; see `check_account_name`
    created_ms: int
    admin: bool = False
    limits: AccountLimits = AccountLimits()
    wallet: SealedWallet | None = None


def check_account_name(text: str, *, field: str = "name") -> str:
    """1–64 letters, digits, `_`, `.` or `-`, starting with a letter or digit; lower-cased
    (names are compared as given, so `Alice` and `alice` are one account)."""
    name = text.strip().lower() if isinstance(text, str) else ""
    if not _NAME.fullmatch(name):
        raise RequestError(
            f"{field} must be 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return name


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: never its secret, only the secret's digest (hidden from `repr`)."""

    id: str
    account_id: str
    scope: Scope
    secret_hash: str = field(repr=False)
    created_ms: int = 0
    expires_ms: int | None = None
    revoked_ms: int | None = None

    def matches(self, secret: str) -> bool:
        """Whether `secret` is this key's (constant time)."""
        return hmac.compare_digest(hash_secret(self.id, secret), self.secret_hash)

    def state(self, now_ms: int) -> str:
        """`active`, `revoked` or `expired`."""
        if self.revoked_ms is not None:
            return "revoked"
        if self.expires_ms is not None and now_ms >= self.expires_ms:
            return "expired"
        return "active"

    def is_active(self, now_ms: int) -> bool:
        return self.state(now_ms) == "active"


class KeyToken:
    """A whole API key as a client sends it (`oe_<key id>_<secret>`). Neither `repr` nor
    `str` shows the secret; `reveal()` does, for the one time the key is shown."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self._secret = secret

    @property
    def secret(self) -> str:
        return self._secret

    def reveal(self) -> str:
        return f"{KEY_PREFIX}_{self.key_id}_{self._secret}"

    def __repr__(self) -> str:
        return f"KeyToken({KEY_PREFIX}_{self.key_id}_<hidden>)"

    __str__ = __repr__


def hash_secret(key_id: str, secret: str) -> str:
    """The stored digest of a key's secret (bound to its key id)."""
    material = _HASH_CONTEXT + key_id.encode() + b"\x00" + secret.encode()
    return hashlib.sha256(material).hexdigest()


def issue_key(
    account: Account, scope: Scope, *, now_ms: int, expires_ms: int | None = None
) -> tuple[ApiKey, KeyToken]:
    """A new key for `account`: what to store, and the token to show once."""
    if scope is Scope.ADMIN and not account.admin:
        raise RequestError(
            f"an admin key needs an admin account; {account.name} is not one", field="scope"
        )
    if expires_ms is not None and expires_ms <= now_ms:
        raise RequestError("a key's expiry must be in the future", field="expires")
    token = KeyToken(secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES))
    key = ApiKey(
        id=token.key_id,
        account_id=account.id,
        scope=scope,
        secret_hash=hash_secret(token.key_id, token.secret),
        created_ms=now_ms,
        expires_ms=expires_ms,
    )
    return key, token


def parse_token(text: str) -> KeyToken | None:
    """The key a client presented, or None if `text` is not shaped like one."""
    found = _TOKEN.fullmatch(text)
    return None if found is None else KeyToken(found.group(1), found.group(2))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: an account, through one of its keys (with the account's
    limit overrides as read with the key, so that submitting needs no other lookup)."""

    account_id: str
    key_id: str
    scope: Scope
    admin: bool  # the account is an admin account
    limits: AccountLimits = AccountLimits()

    def can(self, needed: Scope) -> bool:
        """Whether this key allows calls that need `needed` (admin also needs an admin
        account, whatever the key says)."""
        if needed is Scope.ADMIN and not self.admin:
            return False
        return self.scope.covers(needed)

    def may_see(self, owner_account_id: str | None) -> bool:
        """Whether the principal may see what `owner_account_id` owns (its own, or, with
        an admin account, anyone's)."""
        return self.admin or owner_account_id == self.account_id


def parse_expiry(text: str, *, now_ms: int, field: str = "expires") -> int:
    """When a key expires (epoch ms): `30d`, `12h`, `45m` or `90s` from now, or an
    ISO 8601 date or time (UTC when it names no zone, e.g. `2027-01-01T00:00:00Z`)."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration is not None:
        seconds = int(duration.group(1)) * _UNIT_S[duration.group(2)]
        expires_ms = now_ms + seconds * 1000
    else:
        expires_ms = _iso_ms(value, field)
    if expires_ms <= now_ms:
        raise RequestError(f"{field} must be in the future", field=field)
    return expires_ms


def _iso_ms(value: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(
            f"{field} must be a duration (30d, 12h, 45m, 90s) or an ISO 8601 time "
            "such as 2027-01-01T00:00:00Z",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
