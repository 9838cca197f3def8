"""The real console script: `order-engine serve` in its own process, configured by the
environment or a `.env` file in its working directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from order_engine.settings import Settings
from tests.e2e.harness import assert_lifecycle, free_socket

ORDER_ENGINE = Path(sys.executable).parent / "order-engine"
REPO = Path(__file__).resolve().parents[2]
GOOD = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
START_TIMEOUT_S = 60.0  # a deadline under load, not a speed check (an exit fails at once)
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with free_socket() as sock:
        port: int = sock.getsockname()[1]
    return port


def env_with(**settings: Any) -> dict[str, str]:
    """This process's environment without any engine setting, plus `settings`."""
    names = set(Settings.model_fields)
    env = {k: v for k, v in os.environ.items() if k.lower() not in names}
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    client: httpx.Client
    log: Path
    exit_code: int | None = None
    api_key: str | None = None  # the admin key `serve` wrote at its first start

    @property
    def auth(self) -> dict[str, str]:
        return {} if self.api_key is None else {"Authorization": f"Bearer {self.api_key}"}

    def stream(self, order_id: str) -> list[dict[str, Any]]:
        url = self.base_url.replace("http://", "ws://") + f"/api/orders/execute?orderId={order_id}"
        with connect(url, open_timeout=5, additional_headers=self.auth) as ws:
            events = [orjson.loads(message) for message in ws]
            assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
        return events

    def submit(self) -> str:
        response = self.client.post("/api/orders/execute", json=GOOD)
        assert response.status_code == 201, response.text
        order_id: str = response.json()["orderId"]
        return order_id


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not healthy within {START_TIMEOUT_S}s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM; the exit code (the process must be gone within STOP_TIMEOUT_S)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def serving(cwd: Path, port: int, /, **settings: Any) -> Iterator[Served]:
    """`order-engine serve` in `cwd`, expected on `port`; SIGTERM must stop it cleanly in
    time (exit code in `Served.exit_code`)."""
    log = cwd / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(ORDER_ENGINE), "serve"],
            cwd=cwd,
            env=env_with(**settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, base_url, log)
        key_file = cwd / str(settings.get("data_dir", "data")) / "admin.key"
        key = key_file.read_text().strip() if key_file.exists() else None
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
            served = Served(process, base_url, client, log, api_key=key)
            yield served
        served.exit_code = stop(process)
        assert served.exit_code in {0, -signal.SIGTERM}, log.read_text()
        assert "Application shutdown complete" in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class FirstRun:
    port: int
    data_dir: Path
    order_id: str
    events: list[dict[str, Any]]
    order: dict[str, Any]
    served: Served
    stop_s: float


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Serve from a fresh directory (no .env), run one order, then SIGTERM."""
    cwd, port = tmp_path_factory.mktemp("serve"), free_port()
    with serving(cwd, port, port=port, data_dir=cwd / "data", latency_scale=0) as srv:
        order_id = srv.submit()
        events = srv.stream(order_id)
        order = srv.client.get(f"/api/orders/{order_id}").json()
        stopping = time.monotonic()
    return FirstRun(port, cwd / "data", order_id, events, order, srv, time.monotonic() - stopping)


def test_serve_runs_an_order_and_stops_cleanly_on_sigterm(first_run: FirstRun) -> None:
    run = first_run
    assert_lifecycle(run.events, run.order_id, "confirmed")
    assert run.order["status"] == "confirmed"
    ws_url = f"ws://127.0.0.1:{run.port}/api/orders/execute?orderId={run.order_id}"
    assert run.order["wsUrl"].startswith(ws_url + "&token=")
    assert (run.data_dir / "orders.db").is_file()
    assert f"serving on http://127.0.0.1:{run.port}" in run.served.log.read_text()
    assert run.stop_s < STOP_TIMEOUT_S


def test_sigterm_exits_with_code_zero(first_run: FirstRun) -> None:
    assert first_run.served.exit_code == 0


BAD_CONFIGS: dict[str, dict[str, str]] = {
    "postgres-url": {"database_url": "postgresql://x"},
    "redis-url": {"redis_url": "redis://x"},
    "sim-chain-url": {"sim_chain_url": "http://x"},
}
NAMED = {"postgres-url": "DATABASE_URL", "redis-url": "REDIS_URL", "sim-chain-url": "SIM_CHAIN_URL"}


@dataclass
class Refused:
    returncode: int
    stderr: str
    seconds: float
    cwd: Path


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Refused]:
    """Every bad configuration, started at once (each process exits at its settings check)."""
    started = time.monotonic()
    runs = {}
    for name, setting in BAD_CONFIGS.items():
        cwd = tmp_path_factory.mktemp(name)
        env = env_with(**{"port": free_port(), "data_dir": cwd / "data", **setting})
        process = subprocess.Popen(
            [str(ORDER_ENGINE), "serve"], cwd=cwd, env=env, stderr=subprocess.PIPE
        )
        runs[name] = (process, cwd)
    results = {}
    try:
        for name, (process, cwd) in runs.items():
            _, stderr = process.communicate(timeout=STOP_TIMEOUT_S)
            elapsed = time.monotonic() - started
            results[name] = Refused(process.returncode, stderr.decode(), elapsed, cwd)
    finally:  # one that hangs fails the tests here, not later ones with its unclosed pipe
        for process, _ in runs.values():
            if process.poll() is None:
                process.kill()
            process.communicate()
    return results


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_unsupported_backends_exit_with_one_line(refused: dict[str, Refused], name: str) -> None:
    run = refused[name]
    assert run.returncode != 0
    assert run.seconds < STOP_TIMEOUT_S
    stderr = run.stderr.strip()
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("order-engine:"), stderr
    assert NAMED[name] in stderr
    assert "Traceback" not in stderr
    assert not (run.cwd / "data").exists(), "nothing may be created before the check"


def test_dot_env_in_the_working_directory_is_read(tmp_path: Path) -> None:
    port = free_port()
    example = (REPO / ".env.example").read_text()
    assert "\nPORT=3000\n" in example
    (tmp_path / ".env").write_text(example.replace("\nPORT=3000\n", f"\nPORT={port}\n"))
    with serving(tmp_path, port) as srv:
        assert srv.client.get("/ready").json()["status"] == "ready"
    assert (tmp_path / "data" / "orders.db").is_file(), "DATA_DIR=data from .env, under cwd"


def test_pending_order_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    hold = {"rate_limit_max": 1, "rate_limit_window_s": 60}  # the first order takes the start
    with serving(tmp_path, port, port=port, data_dir=data, latency_scale=0, **hold) as srv:
        first, held = srv.submit(), srv.submit()
        before = srv.stream(first)
        assert_lifecycle(before, first, "confirmed")
        assert srv.client.get(f"/api/orders/{held}").json()["status"] == "pending"
    port = free_port()
    with serving(tmp_path, port, port=port, data_dir=data, latency_scale=0) as srv:
        events = srv.stream(held)
        assert_lifecycle(events, held, "confirmed")
        assert [e["status"] for e in events].count("pending") == 1
        assert events[0]["tsMs"] <= events[1]["tsMs"]
        assert srv.stream(first) == before
        order = srv.client.get(f"/api/orders/{held}").json()
        assert order["status"] == "confirmed" and order["txHash"] == events[-1]["txHash"]


def test_watch_and_launch_find_the_engine_from_port(tmp_path: Path) -> None:
    """Without `--url`, `watch` and `launch` use PORT (and HOST) like the server does."""
    port = free_port()
    settings = {"port": port, "data_dir": tmp_path / "data", "latency_scale": 0, "venues": "sim"}
    with serving(tmp_path, port, **settings) as srv:
        order_id = srv.submit()
        env = env_with(port=port)
        watched = subprocess.run(
            [str(ORDER_ENGINE), "watch", order_id],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert watched.returncode == 0, watched.stderr
        assert orjson.loads(watched.stdout.splitlines()[-1])["status"] == "confirmed"
        launch = [str(ORDER_ENGINE), "launch", "OPCOIN", "--venue", "raydium", "--price", "0.5"]
        launched = subprocess.run(
            launch, cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60
        )
        assert launched.returncode == 0, launched.stderr
        assert orjson.loads(launched.stdout)["symbol"] == "OPCOIN"


def test_log_format_json_gives_one_object_per_line(tmp_path: Path) -> None:
    """LOG_FORMAT=json: every line the server writes is a JSON object, uvicorn's included;
    each request has an access line and each finished order its own line."""
    port = free_port()
    settings = {"port": port, "data_dir": tmp_path / "data", "latency_scale": 0, "venues": "sim"}
    with serving(tmp_path, port, log_format="json", **settings) as srv:
        order_id = srv.submit()
        assert srv.stream(order_id)[-1]["status"] == "confirmed"
    lines = [orjson.loads(line) for line in srv.log.read_text().splitlines() if line]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines), lines
    access = [line for line in lines if line["logger"] == "order_engine.access"]
    assert {(a["method"], a["path"], a["status"]) for a in access} >= {
        ("POST", "/api/orders/execute", 201),
        ("WS", "/api/orders/execute", 1000),
    }
    (ended,) = [line for line in lines if line["logger"] == "order_engine.orders"]
    assert ended["orderId"] == order_id and ended["status"] == "confirmed"
    assert any("serving on" in line["message"] for line in lines)
