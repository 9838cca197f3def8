"""`order-engine accounts …` and `keys …` through the CLI's entry point (and once through
the installed console script) on SQLite, and on PostgreSQL only once migrated. A key is
printed once, by `keys create`, and works until it is revoked."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from order_engine import cli
from order_engine.adapters.clock import SystemClock
from order_engine.adapters.sql import create_sql_account_store
from order_engine.domain.errors import UnauthenticatedError
from order_engine.engine.auth import Authenticator
from order_engine.settings import Settings
from tests.pgdb import fresh_database

ORDER_ENGINE = Path(sys.executable).parent / "order-engine"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def principal_of(db_url: str, token: str) -> str:
    """The account id the key authenticates as, or `refused`."""

    async def check() -> str:
        store = await create_sql_account_store(db_url)
        try:
            principal = await Authenticator(store, SystemClock()).authenticate(f"Bearer {token}")
            return principal.account_id
        except UnauthenticatedError:
            return "refused"
        finally:
            await store.close()

    return asyncio.run(check())


def test_accounts(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "accounts", "create", "alice")
    assert status == 0
    assert out.startswith("created account alice: id ")
    # on the embedded database, unset WALLET_MASTER_KEY: the key file `serve` uses, made now
    key_file = env / "data" / "wallet-master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in out + err
    wallet = out.strip().rsplit(" ", 1)[-1]
    assert 32 <= len(wallet) <= 44
    assert run(capsys, "accounts", "create", "Root", "--admin")[0] == 0
    status, _, err = run(capsys, "accounts", "create", "ALICE")
    assert (status, err.strip()) == (1, "order-engine: an account named 'alice' exists")
    status, _, err = run(capsys, "accounts", "create", "no spaces")
    assert status == 2 and "name must be 1 to 64" in err
    status, out, _ = run(capsys, "accounts", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "WALLET", "LIMITS", "CREATED"]
    assert [line.split()[1:3] for line in lines[1:]] == [["alice", "user"], ["root", "admin"]]
    assert lines[1].split()[3] == wallet and lines[2].split()[3] not in ("-", wallet)


def test_keys_are_shown_once_and_work_until_revoked(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_url = Settings().resolved_database_url
    run(capsys, "accounts", "create", "alice")
    run(capsys, "accounts", "create", "root", "--admin")
    status, out, err = run(capsys, "keys", "create", "alice")
    assert status == 0
    token = out.strip()
    assert out == token + "\n" and token.startswith("oe_")
    key_id = token.split("_")[1]
    assert f"key {key_id} for alice (scope trade, expires never)" in err
    alice_id = principal_of(db_url, token)
    assert alice_id != "refused"

    status, out, err = run(capsys, "keys", "create", "root", "--scope", "admin", "--expires", "30d")
    assert status == 0 and "scope admin" in err
    root_token = out.strip()
    status, out, _ = run(capsys, "keys", "list")
    assert token not in out and root_token not in out
    assert token.split("_", 2)[2] not in out
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (key_id, "alice", "trade", "active"), (root_token.split("_")[1], "root", "admin", "active"),
    ]  # fmt: skip
    assert len(run(capsys, "keys", "list", "alice")[1].splitlines()) == 2

    status, out, _ = run(capsys, "keys", "revoke", key_id)
    assert (status, out.strip()) == (0, f"revoked key {key_id} of alice")
    status, out, _ = run(capsys, "keys", "revoke", key_id)
    assert status == 0 and "was already revoked at" in out
    assert principal_of(db_url, token) == "refused"
    assert principal_of(db_url, root_token) != "refused"
    assert "revoked" in run(capsys, "keys", "list", "alice")[1]


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["keys", "create", "nobody"], 1, "account nobody not found"),
        (["keys", "create", "alice", "--scope", "admin"], 2, "an admin key needs an admin account"),
        (["keys", "create", "alice", "--expires", "yesterday"], 2, "expires must be a duration"),
        (
            ["keys", "create", "alice", "--expires", "2001-01-01"],
            2,
            "expires must be in the future",
        ),
        (["keys", "revoke", "0123456789abcdef"], 1, "key 0123456789abcdef not found"),
        (["keys", "list", "nobody"], 1, "account nobody not found"),
    ],
)
def test_refusals(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, says: str
) -> None:
    run(capsys, "accounts", "create", "alice")
    got, out, err = run(capsys, *argv)
    assert (got, out) == (status, "")
    assert says in err


def test_accounts_get_wallets_with_a_master_key(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    status, out, _ = run(capsys, "accounts", "create", "alice")
    assert status == 0
    public_key = out.strip().rsplit(" ", 1)[-1]
    assert 32 <= len(public_key) <= 44
    assert public_key in run(capsys, "accounts", "list")[1]
    monkeypatch.setenv("WALLET_MASTER_KEY", "too-short")
    status, _, err = run(capsys, "accounts", "list")
    assert status == 2 and "WALLET_MASTER_KEY must" in err and "too-short" not in err


async def test_postgresql_must_be_migrated_first(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fresh_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        status = await asyncio.to_thread(cli.main, ["accounts", "list"])
        assert status == 2
        assert "is not migrated: run `order-engine migrate`" in capsys.readouterr().err
        assert await asyncio.to_thread(cli.main, ["migrate"]) == 0
        assert await asyncio.to_thread(cli.main, ["accounts", "create", "alice"]) == 0
        assert await asyncio.to_thread(cli.main, ["keys", "create", "alice"]) == 0


def test_the_console_script(env: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS}
    environ["DATA_DIR"] = str(env / "data")

    def script(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ORDER_ENGINE), *argv],
            capture_output=True,
            text=True,
            env=environ,
            timeout=60,
            check=False,
        )

    assert script("accounts", "create", "alice").returncode == 0
    made = script("keys", "create", "alice", "--scope", "read")
    assert made.returncode == 0
    token = made.stdout.strip()
    key_id = token.split("_")[1]
    assert key_id in made.stderr and token not in made.stderr
    listed = script("keys", "list")
    revoked = script("keys", "revoke", key_id)
    assert revoked.stdout.strip() == f"revoked key {key_id} of alice"
    for other in (listed, revoked):
        assert token.split("_", 2)[2] not in other.stdout + other.stderr
    assert "read" in listed.stdout and key_id in listed.stdout


_SETTINGS = {name.upper() for name in Settings.model_fields}
