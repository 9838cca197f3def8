"""`order-engine accounts limits NAME [--max-open-orders N] [--orders-per-minute N]
[--max-order-usd X]` through the CLI's entry point on SQLite: shows an account's limits
and where each comes from, changes them (`default`: back to the setting's), `accounts
list` shows the overrides, and a key authenticates with its account's limits."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path

import pytest

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.sql import create_sql_account_store
from order_engine.domain.accounts import AccountLimits
from order_engine.engine.auth import Authenticator
from order_engine.settings import Settings
from tests.unit.test_accounts_cli import run


def rows(out: str) -> list[list[str]]:
    """The limits table's rows as [value, from], after its title and header."""
    lines = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()]
    assert lines[1] == ["LIMIT", "VALUE", "FROM"]
    return [line[1:] for line in lines[2:]]


def limits_of_key(token: str) -> AccountLimits:
    async def check() -> AccountLimits:
        store = await create_sql_account_store(Settings().resolved_database_url)
        try:
            return (
                await Authenticator(store, SystemClock()).authenticate(f"Bearer {token}")
            ).limits
        finally:
            await store.close()

    return asyncio.run(check())


def test_limits_are_shown_changed_listed_and_authenticated_with(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "accounts", "create", "alice")
    token = run(capsys, "keys", "create", "alice")[1].strip()
    status, out, _ = run(capsys, "accounts", "limits", "alice")
    assert status == 0 and out.splitlines()[0] == "limits of alice:"
    assert rows(out) == [
        ["1000", "ACCOUNT_MAX_OPEN_ORDERS"],
        ["6000", "ACCOUNT_ORDERS_PER_MINUTE"],
        ["1000000", "ACCOUNT_MAX_ORDER_USD"],
    ]

    argv = ["--max-open-orders", "5", "--max-order-usd", "2500.50"]
    status, out, _ = run(capsys, "accounts", "limits", "ALICE", *argv)
    assert status == 0 and out.splitlines()[0] == "new limits of alice:"
    assert rows(out) == [
        ["5", "this account"],
        ["6000", "ACCOUNT_ORDERS_PER_MINUTE"],
        ["2500.50", "this account"],
    ]
    assert "open 5, max 2500.50 USD" in run(capsys, "accounts", "list")[1]
    assert limits_of_key(token) == AccountLimits(5, None, Decimal("2500.50"))

    run(capsys, "accounts", "limits", "alice", "--orders-per-minute", "60")
    listed = run(capsys, "accounts", "list")[1]
    assert "open 5, 60/min, max 2500.50 USD" in listed
    status, out, _ = run(capsys, "accounts", "limits", "alice", "--max-open-orders", "default")
    assert status == 0 and rows(out)[0] == ["1000", "ACCOUNT_MAX_OPEN_ORDERS"]
    assert limits_of_key(token) == AccountLimits(None, 60, Decimal("2500.50"))

    monkeypatch.setenv("ACCOUNT_MAX_OPEN_ORDERS", "0")  # the settings give the defaults
    monkeypatch.setenv("ACCOUNT_ORDERS_PER_MINUTE", "100")
    status, out, _ = run(capsys, "accounts", "limits", "alice")
    assert rows(out)[:2] == [["no limit", "ACCOUNT_MAX_OPEN_ORDERS"], ["60", "this account"]]


def test_a_new_account_lists_with_the_defaults(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "accounts", "create", "bob")
    assert run(capsys, "accounts", "list")[1].splitlines()[1].split()[4] == "defaults"


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--max-open-orders", "0"], 2, "--max-open-orders must be a whole number above 0"),
        (["--max-open-orders", "7", "--orders-per-minute", "1.5"], 2,
         "--orders-per-minute must be a whole number above 0"),
        (["--orders-per-minute", "-3"], 2, "--orders-per-minute must be a whole number above 0"),
        (["--max-order-usd", "0"], 2, "--max-order-usd must be an amount above 0, or 'default'"),
        (["--max-open-orders", "7", "--max-order-usd", "1e6"], 2,
         "--max-order-usd must be an amount above 0"),
    ],
)  # fmt: skip
def test_refusals_change_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, says: str
) -> None:
    run(capsys, "accounts", "create", "alice")
    got, out, err = run(capsys, "accounts", "limits", "alice", *argv)
    assert (got, out) == (status, "") and says in err
    assert "defaults" in run(capsys, "accounts", "list")[1]


def test_an_unknown_account_is_not_found(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got, out, err = run(capsys, "accounts", "limits", "nobody", "--max-open-orders", "3")
    assert (got, out, err.strip()) == (1, "", "order-engine: account nobody not found")
