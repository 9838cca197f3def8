"""Shared benchmark helpers: the engine as a subprocess, /proc readings, machine facts."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# the engine's throughput, not its limits: no global rate limit, none per account either
SERVER_ENV = {
    "LATENCY_SCALE": "0",
    "RATE_LIMIT_MAX": "0",
    "ACCOUNT_MAX_OPEN_ORDERS": "0",
    "ACCOUNT_ORDERS_PER_MINUTE": "0",
    "LOG_LEVEL": "warning",
    "RNG_SEED": "42",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU seconds spent busy (not idle, not waiting on I/O) by all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def vm_hwm_kib(pid: int | str = "self") -> int:
    """Peak resident set size (VmHWM) in KiB, 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine_info() -> dict[str, object]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """A plain GET for control calls (health, metrics); (0, b"") when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, urllib.error.URLError):
        return 0, b""


def metric_value(text: str, name: str) -> float | None:
    """One sample from Prometheus text, e.g. `order_events_total{status="confirmed"}`."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def venv_bin(name: str) -> Path:
    """A console script installed beside the running interpreter."""
    return Path(sys.executable).parent / name


@dataclass
class EngineProcess:
    """`order-engine serve` on a free port, fresh DATA_DIR, latency 0, no rate limit."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        workdir: Path,
        overrides: dict[str, str] | None = None,
        wrapper: list[str] | None = None,
    ) -> EngineProcess:
        """Settings come only from `SERVER_ENV` and `overrides`: engine settings in the
        caller's environment are dropped (and the temp cwd has no `.env`). `wrapper` runs
        the CLI module under another program (e.g. a profiler) instead of the script."""
        from order_engine.settings import Settings  # here: forked clients stay small

        port = free_port()
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env.update(SERVER_ENV, HOST="127.0.0.1", PORT=str(port), DATA_DIR=str(workdir))
        env.update(overrides or {})
        command = (
            [*wrapper, "-m", "order_engine.cli"] if wrapper else [str(venv_bin("order-engine"))]
        )
        with (workdir / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [*command, "serve"],
                cwd=workdir,  # no `.env` in a fresh temp dir
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return cls(workdir, port, process)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            if http_get(f"{self.base_url}/health", 0.5)[0] == 200:
                key = self.workdir / "admin.key"  # serve's first admin key: the load sends it
                if key.exists():
                    os.environ["ORDER_ENGINE_API_KEY"] = key.read_text().strip()
                return
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {timeout_s} s: {self.log()}")

    def metrics(self) -> str:
        return http_get(f"{self.base_url}/metrics", 5.0)[1].decode()

    def wait_drained(self, timeout_s: float = 300.0) -> bool:
        """Wait until the job queue is empty (every accepted order finished)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if metric_value(self.metrics(), "order_queue_depth") == 0:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
