"""Optional server profiling: attach `py-spy record` to the server, then sum the samples
into top functions, packages and threads."""

from __future__ import annotations

import importlib.util
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import venv_bin

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
THREAD = re.compile(r"^(thread|process) \(")


def py_spy_path() -> str | None:
    local = venv_bin("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def pyinstrument_wrapper(out: Path) -> list[str] | None:
    """Run the server under pyinstrument (main thread only) when py-spy is missing."""
    if importlib.util.find_spec("pyinstrument") is None:
        return None
    return [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out)]


class PySpy:
    """`py-spy record --pid` writing collapsed stacks (one line: frames;... count)."""

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 250) -> None:
        self.out = out
        command = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        command += ["--threads", "--gil", "--output", str(out)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> str:
        """Stop sampling (py-spy writes its file on SIGINT); returns its stderr tail."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            _, err = self._process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        return err.decode(errors="replace")[-500:]


def package_of(path: str) -> str:
    """A readable bucket for a source file: the engine module, else the top-level package
    or standard-library module (py-spy names files relative to their sys.path entry)."""
    path = path.split("site-packages/", 1)[-1]
    if "order_engine/" in path:
        module = path.split("order_engine/", 1)[1].removesuffix(".py")
        return "order_engine." + module.replace("/", ".")
    if path.startswith("/"):  # outside sys.path, e.g. the console script
        return path.rsplit("/", 1)[-1]
    return path.split("/", 1)[0].removesuffix(".py")


# Where a sample's work came from (first match from the task's root down) ...
ACTIVITIES = (
    ("bench GET /metrics polling", ("create_app.<locals>.metrics",)),
    (
        "WebSocket stream",
        (
            "WebSocketsSansIO",
            "JsonWebSocketProtocol",
            "Ticks.",
            "_send_all",
            "_until_disconnect",
            "serve_order_socket",
            "order_socket",
        ),
    ),
    ("WebSocket stream", ("handle_websocket_upgrade",)),
    (
        "order execution (worker)",
        (
            "InMemoryJobQueue.",
            "OrderExecutor.",
            "Worker.processJob",
            # tasks an attempt starts: quotes, the funds check, sends, confirmations
            "_curve",
            "fetch_curves",
            "ChainWallets.",
            "send_leg",
            "RpcChain.",
        ),
    ),
    ("BullMQ worker loop, locks, stalled check", ("Worker.", "LockManager.", "Timer.")),
    ("group-commit writer task", ("GroupCommitWriter.",)),
    ("JSON-RPC client batches", ("RpcBatcher.", "AiohttpTransport.")),
    ("event feed: reading (Redis)", ("FeedReader.",)),
    ("event feed: publishing (Redis)", ("FeedAppender.", "Coalescer.")),
    ("socket writes started by another task", ("AbstractConnection.", "ClientRequest.")),
    ("stream watch", ("StreamWatch.",)),
    ("JSON-RPC server (localnet)", ("localnet_app.", "JsonRpc.")),
    ("background market (localnet)", ("BackgroundMarket.",)),
    ("POST /api/orders/execute", ("RequestResponseCycle.",)),
    ("HTTP parsing/connections", ("HttpToolsProtocol.",)),
)
# ... and what kind of code did it (first match from the leaf up; stdlib frames count
# for their caller).
WORK_KINDS = (
    (
        "SQL store (SQLAlchemy, sqlite3, asyncpg)",
        ("sqlalchemy", "sqlite3", "asyncpg", "order_engine.adapters.sql"),
    ),
    ("Redis client (redis-py, hiredis, bullmq)", ("redis", "hiredis", "bullmq")),
    ("HTTP client (aiohttp)", ("aiohttp",)),
    ("LiteSVM and signing (solders)", ("solders",)),
    ("WebSocket protocol + socket writes", ("websockets", "uvicorn.protocols.websockets")),
    ("uvicorn HTTP", ("uvicorn",)),
    ("Starlette/FastAPI/anyio", ("starlette", "fastapi", "anyio")),
    ("pydantic", ("pydantic",)),
    ("prometheus_client", ("prometheus_client",)),
    ("engine code (order_engine)", ("order_engine",)),
)


def _classify(frames: list[tuple[str, str]], thread: str) -> tuple[str, str]:
    if "MainThread" not in thread and thread != "all":
        name = thread.split(": ", 1)[-1].rstrip("_0123456789")
        return f"thread {name}", f"thread {name}"
    funcs = [f for f, _ in frames]
    roots = [i for i, f in enumerate(funcs) if f == "Runner.run"]
    body = frames[roots[-1] + 1 :] if roots else frames
    activity = next(
        (name for name, keys in ACTIVITIES for f, _ in body if f.startswith(keys)),
        "event loop (uvloop C, asyncio)" if not body else "other tasks",
    )
    for _func, path in reversed(body):
        where = path.split("site-packages/", 1)[-1].replace("/", ".")
        kind = next((n for n, keys in WORK_KINDS if where.startswith(keys)), None)
        if kind is not None:
            return activity, kind
    return activity, "event loop (uvloop C, asyncio)" if not body else "stdlib/other"


def _parse(line: str) -> tuple[str, list[tuple[str, str]], int] | None:
    stack, _, count = line.rpartition(" ")
    if not stack or not count.isdigit():
        return None
    thread, frames = "all", []
    for raw in stack.split(";"):
        if THREAD.match(raw):
            thread = raw if raw.startswith("thread") else thread
            continue
        match = FRAME.match(raw)
        frames.append((match["func"], match["file"]) if match else (raw, "?"))
    return thread, frames, int(count)


def summarize(path: Path, top: int = 20) -> dict[str, Any]:
    """Samples by activity and kind of work, self time by function, inclusive by function."""
    counters: dict[str, Counter[str]] = {
        k: Counter() for k in ("threads", "activity", "work", "matrix", "self", "inclusive")
    }
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        parsed = _parse(line)
        if parsed is None or not parsed[1]:
            continue
        thread, frames, count = parsed
        total += count
        activity, work = _classify(frames, thread)
        counters["threads"][thread.split(": ", 1)[-1].rstrip("_0123456789")] += count
        counters["activity"][activity] += count
        counters["work"][work] += count
        counters["matrix"][f"{activity} / {work}"] += count
        func, file = frames[-1]
        counters["self"][f"{func} ({package_of(file)})"] += count
        for name in {f"{f} ({package_of(p)})" for f, p in frames}:
            counters["inclusive"][name] += count

    def share(key: str, n: int) -> list[tuple[str, float]]:
        pairs = counters[key].most_common(n)
        return [(k, round(100 * v / total, 1)) for k, v in pairs] if total else []

    return {
        "samples": total,
        "threads_pct": share("threads", 8),
        "activity_pct": share("activity", 12),
        "work_pct": share("work", 12),
        "activity_work_pct": share("matrix", 30),
        "self_by_function_pct": share("self", top),
        "inclusive_by_function_pct": share("inclusive", top + 30),
    }


def print_summary(summary: dict[str, Any], process: str = "server") -> None:
    print(f"\n{process} profile: {summary['samples']} GIL-holding samples (%)")
    for title, key, n in (
        ("threads", "threads_pct", 8),
        ("by activity", "activity_pct", 12),
        ("by kind of work", "work_pct", 12),
        ("self time by function", "self_by_function_pct", 15),
    ):
        print(f"  {title}:")
        for name, pct in summary[key][:n]:
            print(f"    {pct:5.1f}  {name}")
