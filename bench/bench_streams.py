"""WebSocket capacity benchmark: `order-engine serve` (embedded) holding many idle order
streams, driven by client processes on raw sockets (`bench.stream_client`).

1. A probe with no stream open: market orders at `--probe-rate`, each followed on its
   WebSocket; latency = client receive time - the event's `tsMs` (same machine clock).
2. Long-waiting limit orders (they never fill) are posted, then their streams opened in
   steps (`--levels`); at each step the server's idle CPU over `--window` seconds and its
   VmRSS growth per open stream.
3. The same probe with every stream open. At the end no held stream may have ended.

    .venv/bin/python -m bench.bench_streams [--levels 1000,5000,10000] [--window 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.common import (
    SERVER_ENV,
    EngineProcess,
    cpu_seconds,
    metric_value,
    percentile,
    utc_now,
    vm_hwm_kib,
)
from bench.report import report_header
from bench.stream_client import stream_client_main

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_IDLE_CORES = 0.02  # "near zero" at the largest level
TARGET_KIB_PER_STREAM = 12.0
TARGET_P99_MS = 50.0
STREAM_ENV = {
    "LIMIT_CHECK_INTERVAL_S": "3600",  # the waiting orders' re-pricing is not what we measure
    "STREAM_TOKEN_TTL_S": "3600",  # streams open minutes after their orders
    "QUEUE_MAX_DEPTH": "100000",
}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.bench_streams", description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="1000,5000,10000", help="open streams at each step")
    p.add_argument("--window", type=float, default=20.0, help="idle CPU window, seconds")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after opening, first")
    p.add_argument("--probe-orders", type=int, default=1000, help="market orders per probe")
    p.add_argument("--probe-rate", type=float, default=100.0, help="probe orders per second")
    p.add_argument("--clients", type=int, default=4, help="stream-holding client processes")
    p.add_argument("--venues", default="sim", help="VENUES for the server (sim or chain)")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    return p.parse_args(argv)


def vm_rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


class Clients:
    """Client processes, each answering one command at a time over its pipe."""

    def __init__(self, engine: EngineProcess, count: int) -> None:
        ctx = mp.get_context("spawn")  # lean clients, with the API key in their environment
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(count):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=stream_client_main, args=(theirs, "127.0.0.1", engine.port), daemon=True
            )
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)

    def ask(self, command: str, args: list[Any]) -> list[dict[str, Any]]:
        """The same command to each client (its own argument), then every answer."""
        for pipe, arg in zip(self.pipes, args, strict=True):
            pipe.send((command, arg))
        return [pipe.recv() for pipe in self.pipes]

    def stop(self) -> None:
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def idle_cpu(engine: EngineProcess, window_s: float) -> dict[str, float]:
    cpu0, t0 = cpu_seconds(engine.pid), time.monotonic()
    time.sleep(window_s)
    cpu, wall = cpu_seconds(engine.pid) - cpu0, time.monotonic() - t0
    return {"cpu_s": round(cpu, 3), "window_s": round(wall, 2), "cores": round(cpu / wall, 4)}


def run_probe(engine: EngineProcess, prober: Clients, args: argparse.Namespace) -> dict[str, Any]:
    cpu0 = cpu_seconds(engine.pid)
    [raw] = prober.ask("probe", [(args.probe_orders, args.probe_rate)])
    server_cpu = cpu_seconds(engine.pid) - cpu0
    lat = raw["latencies_ms"]
    return {
        "orders": args.probe_orders,
        "rate_per_s": args.probe_rate,
        "wall_s": round(raw["wall_s"], 2),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_ms_per_order": round(1000 * server_cpu / max(args.probe_orders, 1), 3),
        "events_measured": len(lat),
        "event_latency_ms": {f"p{p}": round(percentile(lat, p), 2) for p in (50, 90, 99, 100)},
        "bad_count": len(raw["bad"]),
        "bad_examples": raw["bad"][:5],
    }


def open_levels(
    engine: EngineProcess, holders: Clients, levels: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Post every limit order, then open their streams step by step, measuring each."""
    posted = holders.ask("post", _split(levels[-1], len(holders.pipes)))
    if sum(p["posted"] for p in posted) < levels[-1]:
        raise SystemExit(f"could not post the limit orders: {posted}")
    engine.wait_drained()  # every order `waiting`, the queue empty
    time.sleep(args.settle)
    rss0 = vm_rss_kib(engine.pid)
    steps = []
    for level in levels:
        t0 = time.monotonic()
        opened = holders.ask("open", _split(level, len(holders.pipes)))
        open_s = time.monotonic() - t0
        time.sleep(args.settle)
        rss = vm_rss_kib(engine.pid)
        step = {
            "streams": sum(o["held"] for o in opened),
            "open_errors": sum(o["error_count"] for o in opened),
            "open_s": round(open_s, 2),
            "rss_kib": rss,
            "rss_growth_kib_per_stream": round((rss - rss0) / max(level, 1), 2),
            "idle": idle_cpu(engine, args.window),
        }
        steps.append(step)
        print(f"  {step['streams']} streams: idle {step['idle']['cores']} cores, "
              f"{step['rss_growth_kib_per_stream']} KiB/stream", flush=True)  # fmt: skip
    return steps


def run(args: argparse.Namespace) -> dict[str, Any]:
    levels = sorted(int(x) for x in args.levels.split(","))
    env = {**STREAM_ENV, "VENUES": args.venues}
    with tempfile.TemporaryDirectory(prefix="oe-bench-streams-") as tmp:
        engine = EngineProcess.start(Path(tmp), env)
        engine.wait_healthy(60)
        holders = prober = None
        try:
            prober, holders = Clients(engine, 1), Clients(engine, args.clients)
            time.sleep(args.settle)
            idle0 = idle_cpu(engine, args.window)
            print(f"  0 streams: idle {idle0['cores']} cores", flush=True)
            probe0 = run_probe(engine, prober, args)
            rss_before = vm_rss_kib(engine.pid)
            steps = open_levels(engine, holders, levels, args)
            probe_open = run_probe(engine, prober, args)
            closed = holders.ask("close", [None] * args.clients)
            prober.ask("close", [None])
            confirmed = metric_value(engine.metrics(), 'order_events_total{status="confirmed"}')
        finally:
            for clients in (holders, prober):
                if clients is not None:
                    clients.stop()
            hwm = vm_hwm_kib(engine.pid)
            engine.stop()
            log_tail = engine.log().splitlines()[-10:]
    return {
        "idle_no_streams": idle0,
        "probe_no_streams": probe0,
        "rss_kib_before_orders": rss_before,
        "steps": steps,
        "probe_with_streams_open": probe_open,
        "ended_early": sum(c["ended_early"] for c in closed),
        "ended_early_examples": [x for c in closed for x in c["examples"]][:5],
        "confirmed_total": confirmed,
        "server_vm_hwm_kib": hwm,
        "server_log_tail": log_tail,
    }


def verdict(report: dict[str, Any]) -> dict[str, bool]:
    last, probe = report["steps"][-1], report["probe_with_streams_open"]
    idle = last["idle"]["cores"] - report["idle_no_streams"]["cores"]
    return {
        "idle_cores_near_zero": idle <= TARGET_IDLE_CORES,
        "kib_per_stream": last["rss_growth_kib_per_stream"] <= TARGET_KIB_PER_STREAM,
        "p99_ms": probe["event_latency_ms"]["p99"] < TARGET_P99_MS,
        "no_stream_lost": report["ended_early"] == 0 and last["open_errors"] == 0,
        "probe_lifecycles_ok": probe["bad_count"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    started = utc_now()
    report = report_header("streams", args, {**SERVER_ENV, **STREAM_ENV}, started)
    report["targets"] = {
        "idle_cores_above_no_streams": TARGET_IDLE_CORES,
        "kib_per_stream": TARGET_KIB_PER_STREAM,
        "event_p99_ms": TARGET_P99_MS,
    }
    report.update(run(args))
    report["met"] = verdict(report)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"streams-{started:%Y-%m-%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    for name in ("probe_no_streams", "probe_with_streams_open"):
        p = report[name]
        print(f"  {name}: p50/p99 {p['event_latency_ms']['p50']} / "
              f"{p['event_latency_ms']['p99']} ms, server CPU {p['server_cpu_s']} s, "
              f"bad {p['bad_count']}")  # fmt: skip
    print(f"  streams ended early: {report['ended_early']}; met: {report['met']}")
    print(f"result: {path}")
    return 0 if report["met"]["no_stream_lost"] and report["met"]["probe_lifecycles_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
