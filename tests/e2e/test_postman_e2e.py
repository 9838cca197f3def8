"""The Postman collection (`postman_collection.json`) passes against the real `order-engine
serve`: at its default settings (default latency, so the requests that check an order ask
again until it gets there) and at `LATENCY_SCALE=0`, run twice against the same database by
the project's pinned newman (`npm ci --prefix tests/postman`, which `make test` does). newman
exits 0, every request of the collection ran, and none of their assertions or scripts failed.

Without node or that newman the test skips, saying so; `CI_REQUIRE_SERVICES=1` (CI) makes
that a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.test_cli_e2e import Served, free_port, serving

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "postman_collection.json"
NEWMAN = ROOT / "tests" / "postman" / "node_modules" / ".bin" / "newman"
RUNS = 2  # against the same server and database: the collection is repeatable
NEWMAN_TIMEOUT_S = 90.0  # a deadline under load; a run takes ~3 s at the default latency

pytestmark = pytest.mark.timeout(120)


def require_newman() -> Path:
    """The pinned newman, or a skip with the reason (a failure under CI_REQUIRE_SERVICES=1)."""
    reason = None
    if shutil.which("node") is None:
        reason = "node is not on PATH (newman runs on Node.js)"
    elif not NEWMAN.exists():
        reason = f"newman is not installed at {NEWMAN}: run `npm ci --prefix tests/postman`"
    if reason is not None:
        if os.environ.get("CI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CI_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(reason)
    return NEWMAN


def request_names(node: dict[str, Any]) -> Iterator[str]:
    for item in node["item"]:
        if "item" in item:
            yield from request_names(item)
        else:
            yield item["name"]


def run_collection(newman: Path, served: Served, report: Path) -> dict[str, Any]:
    server_log = served.log
    done = subprocess.run(
        [str(newman), "run", str(COLLECTION), "--env-var", f"baseUrl={served.base_url}",
         "--env-var", f"apiKey={served.api_key}",
         "--reporters", "cli,json", "--reporter-json-export", str(report),
         "--timeout-request", "10000", "--color", "off", "--disable-unicode"],
        cwd=ROOT, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT_S, check=False,
    )  # fmt: skip
    output = done.stdout[-8000:] + done.stderr[-2000:]
    assert done.returncode == 0, f"{output}\nserver log:\n{server_log.read_text()[-3000:]}"
    run: dict[str, Any] = orjson.loads(report.read_bytes())["run"]
    return run


def failures_in(run: dict[str, Any]) -> list[str]:
    """Every failed assertion, script error and failed counter, as one line each."""
    found = [
        f"{f.get('source', {}).get('name')}: {f['error'].get('name')}: {f['error'].get('message')}"
        for f in run["failures"]
    ]
    found += [
        f"{name}: {counts['failed']} failed" for name, counts in run["stats"].items()
        if counts["failed"]
    ]  # fmt: skip
    return found


SERVERS = {"default-settings": {}, "latency-0": {"latency_scale": 0}}


@pytest.mark.parametrize("server", SERVERS)
def test_postman_collection_passes_twice_against_the_same_server(
    tmp_path: Path, server: str
) -> None:
    newman = require_newman()
    names = list(request_names(orjson.loads(COLLECTION.read_bytes())))
    assert len(set(names)) == len(names), "request names are unique (the report is by name)"
    port = free_port()
    settings = {"port": port, "data_dir": tmp_path / "data", **SERVERS[server]}
    with serving(tmp_path, port, **settings) as served:
        runs = [run_collection(newman, served, tmp_path / f"newman-{i}.json") for i in range(RUNS)]
    for run in runs:
        assert failures_in(run) == []
        executions = run["executions"]
        assert {e["item"]["name"] for e in executions} == set(names), "every request ran"
        # an order-checking request may run several times (asking again until the order gets
        # there); the last time it checks: every request's last run made assertions
        last = {e["item"]["name"]: e for e in executions}
        silent = [name for name in names if not last[name].get("assertions")]
        assert silent == [], "requests whose last run asserted nothing"
        failed = [
            (e["item"]["name"], a["assertion"]) for e in executions
            for a in e.get("assertions", []) if a.get("error") or a.get("skipped")
        ]  # fmt: skip
        assert failed == []
