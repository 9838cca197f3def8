"""Optional server profiling: attach `py-spy record` to the server, then sum the samples
into top functions, packages and threads."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import venv_bin

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
THREAD = re.compile(r"^(thread|process) \(")


def py_spy_path() -> str | None:
    local = venv_bin("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record --pid` writing collapsed stacks (one line: frames;... count)."""

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 250) -> None:
        self.out = out
        command = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        command += ["--threads", "--nonblocking", "--output", str(out)]
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
    """A readable bucket for a source file: the installed package, the engine module,
    or the standard-library module."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "order_engine/" in path:
        return "order_engine." + path.split("order_engine/", 1)[1].removesuffix(".py").replace(
            "/", "."
        )
    name = path.rsplit("/", 2)
    if len(name) >= 2 and name[-2].startswith("python3"):
        return name[-1].removesuffix(".py")
    return name[-2] if len(name) >= 2 else path


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
    """Self time by function and by package, inclusive time by function, and by thread."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        parsed = _parse(line)
        if parsed is None or not parsed[1]:
            continue
        thread, frames, count = parsed
        total += count
        threads[thread] += count
        func, file = frames[-1]
        own[f"{func} ({package_of(file)})"] += count
        packages[package_of(file)] += count
        for name in {f"{f} ({package_of(p)})" for f, p in frames}:
            inclusive[name] += count

    def share(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "threads_pct": share(threads, 8),
        "self_by_package_pct": share(packages, top),
        "self_by_function_pct": share(own, top),
        "inclusive_by_function_pct": share(inclusive, top + 20),
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\nserver profile: {summary['samples']} samples (share of on-CPU samples, %)")
    for title, key in (
        ("threads", "threads_pct"),
        ("self time by package", "self_by_package_pct"),
        ("self time by function", "self_by_function_pct"),
        ("inclusive time by function", "inclusive_by_function_pct"),
    ):
        print(f"  {title}:")
        for name, pct in summary[key]:
            print(f"    {pct:5.1f}  {name}")
