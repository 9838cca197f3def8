"""`order-engine watch` and `launch` find the engine from the settings (PUBLIC_BASE_URL,
else HOST and PORT) when no `--url` is given."""

from __future__ import annotations

from typing import Any

import pytest

from order_engine import cli
from order_engine.settings import Settings


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir("/tmp")  # no .env

    def watch(order: str, url: str, after: int | None, key: str | None = None) -> int:
        seen.append(("watch", url))
        return 0

    def launch(url: str, body: dict[str, Any], key: str | None = None) -> int:
        seen.append(("launch", url))
        return 0

    monkeypatch.setattr(cli, "watch_order", watch)
    monkeypatch.setattr(cli, "launch_token", launch)
    return seen


LAUNCH = ["launch", "NEW", "--venue", "raydium", "--price", "0.5"]


def test_watch_and_launch_use_port_and_host(
    calls: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "4321")
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert cli.main(["watch", "some-id"]) == 0
    assert cli.main(LAUNCH) == 0
    assert calls == [("watch", "http://localhost:4321"), ("launch", "http://localhost:4321")]


def test_public_base_url_wins_and_url_wins_over_both(
    calls: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "4321")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://engine.example/")
    assert cli.main(["watch", "some-id"]) == 0
    assert cli.main([*LAUNCH, "--url", "http://127.0.0.1:9"]) == 0
    assert calls == [("watch", "https://engine.example"), ("launch", "http://127.0.0.1:9")]
