"""Choosing the venues and the wallet: `VENUES`, where the binaries are, the fallback to the
simulated venues in one line, the wallet file (mode 0600, never its secret in a message)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from order_engine.bootstrap import venues as venue_wiring
from order_engine.bootstrap.factories import ConfigurationError
from order_engine.chain.wallet import WalletFileError, load_or_create_wallet, load_wallet
from order_engine.settings import Settings
from tests.chain_helpers import program_binaries


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **overrides)  # type: ignore[arg-type]


def test_serve_runs_the_chain_when_the_binaries_are_found(tmp_path: Path) -> None:
    found = settings(tmp_path, programs_dir=program_binaries().source)
    kind, binaries = venue_wiring.resolve_venues(found, "serve")
    assert kind == "chain" and binaries is not None and len(binaries.binaries) == 2


def test_without_binaries_serve_says_so_in_one_line_and_runs_the_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(venue_wiring, "default_locations", lambda *_: [tmp_path / "none"])
    with caplog.at_level(logging.WARNING):
        kind, binaries = venue_wiring.resolve_venues(settings(tmp_path), "serve")
    assert (kind, binaries) == ("sim", None)
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    message = record.getMessage()
    assert "\n" not in message and "order-engine programs fetch" in message
    with pytest.raises(ConfigurationError, match="programs fetch"):
        venue_wiring.resolve_venues(settings(tmp_path, venues="chain"), "serve")


def test_processes_sharing_work_need_a_shared_chain(tmp_path: Path) -> None:
    assert venue_wiring.resolve_venues(settings(tmp_path), "worker") == ("sim", None)
    with pytest.raises(ConfigurationError, match="SOLANA_RPC_URL"):
        venue_wiring.resolve_venues(settings(tmp_path, venues="chain"), "api")


def test_a_pools_file_needs_a_cluster(tmp_path: Path) -> None:
    pools = tmp_path / "pools.toml"
    sim = settings(tmp_path, pools_file=pools, solana_rpc_url="http://x", venues="sim")
    for alone in (settings(tmp_path, pools_file=pools), sim):
        assert "set SOLANA_RPC_URL" in (alone.problem_for("serve") or "")
    paired = settings(tmp_path, pools_file=pools, solana_rpc_url="http://127.0.0.1:8899")
    assert paired.problem_for("serve") is None


def test_the_wallet_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "wallet.json"
    wallet = load_or_create_wallet(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_wallet(path).pubkey() == wallet.pubkey() == load_wallet(path).pubkey()
    assert len(json.loads(path.read_text())) == 64


def test_a_broken_wallet_file_is_named_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    secret = json.dumps(list(range(60)))
    path.write_text(secret)
    with pytest.raises(WalletFileError) as caught:
        load_wallet(path)
    assert str(path) in str(caught.value) and secret not in str(caught.value)
