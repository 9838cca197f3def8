"""`.env.example` lists every setting, each at its default (the README says so: `cp
.env.example .env` changes nothing until edited)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from order_engine.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", re.MULTILINE)


def test_every_setting_is_listed() -> None:
    listed = {name.lower() for name, _ in LINE.findall(EXAMPLE.read_text())}
    assert sorted(set(Settings.model_fields) - listed) == []


def test_the_example_loads_as_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)  # the example's values, not this machine's
    from_example = Settings(_env_file=EXAMPLE).model_dump()
    defaults = Settings(_env_file=None).model_dump()
    # an empty value (`DATABASE_URL=`) means the default (None: derived from other settings)
    assert {
        k: v if v != "" or defaults[k] is not None else None for k, v in from_example.items()
    } == defaults
