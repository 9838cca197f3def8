"""How `make test` spreads the suite over pytest-xdist's worker processes (`-n 3 --dist
loadfile --no-loadscope-reorder`, see the Makefile).

As xdist's `loadfile` does, each test file is one unit of work, run whole by one worker (so
module-scoped fixtures start once). The files in `SERIAL_FILES` — tests that start several
engine processes or a browser, or bound a time — make one unit together, handed out first:
they run one after another, beside the lighter files of the other workers, instead of on top
of each other (several of them at once on two cores starved each other past their time
bounds and the 60 s per-test timeout). xdist's own way to group tests (`xdist_group` marks
with `--dist loadgroup`) does nothing on pytest 9.2: it renames the tests' node ids, which
pytest 9.2 no longer lets a plugin do.

Without xdist (`-n 0`, `-p no:xdist`, or one file run as `.venv/bin/pytest tests/...`)
nothing here changes the run.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

SERIAL_FILES = (
    "tests/e2e/browser/test_dashboard.py",
    "tests/e2e/browser/test_dashboard_load.py",
    "tests/integration/test_chain_production.py",
    "tests/integration/test_chain_production_faults.py",
    "tests/integration/test_limit_production.py",
    "tests/integration/test_multiprocess_e2e.py",
    "tests/integration/test_rpc_launch_production.py",
    "tests/integration/test_worker_crash.py",
    "tests/integration/test_worker_heartbeats.py",
    "tests/integration/test_worker_shutdown.py",
)
SERIAL_UNIT = "serial"


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_configure(config: pytest.Config) -> None:
    missing = [f for f in SERIAL_FILES if not (config.rootpath / f).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py: SERIAL_FILES names no file at {missing}")


class SerialUnitScheduling(LoadFileScheduling):  # type: ignore[misc]  # xdist: untyped
    """xdist's `loadfile` scheduler, the serial files as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        file = _file_of(nodeid)
        return SERIAL_UNIT if file in SERIAL_FILES else file


@pytest.hookimpl(optionalhook=True)  # xdist's hook: `-p no:xdist` leaves it unknown
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SerialUnitScheduling | None:
    if config.getoption("dist") != "loadfile":
        return None  # xdist's own scheduler
    return SerialUnitScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, the serial files first: with `--no-loadscope-reorder` the units go
    out in the order of their first test (the longest unit first, the small files last)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _file_of(item.nodeid) not in SERIAL_FILES)
