"""Embedded-mode benchmark: `order-engine serve` (SQLite, in-process queue and bus) as a
subprocess, driven over real HTTP and WebSocket by client processes.

Phase 1 (intake): POST orders as fast as possible over keep-alive connections.
Phase 2 (end to end): POST, open the order's WebSocket, read to the close, check the
lifecycle; bounded orders in flight. Exit code 1 if any lifecycle or submit was wrong.

    .venv/bin/python -m bench.bench_embedded [--orders 3000] [--e2e-orders 2000] [--profile]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import AMOUNT_ENV, DEFAULT_AMOUNT, ClientJob, client_main
from bench.common import (
    SERVER_ENV,
    EngineProcess,
    cpu_seconds,
    metric_value,
    system_busy_seconds,
    utc_now,
    vm_hwm_kib,
)
from bench.profiling import (
    PySpy,
    print_summary,
    py_spy_path,
    pyinstrument_wrapper,
    summarize,
)
from bench.report import (
    TARGET_E2E_PER_S,
    TARGET_INTAKE_PER_S,
    collect_parts,
    orders_ok,
    print_table,
    report_header,
    save_report,
    summarize_e2e,
)
from bench.round_trips import per_order, print_round_trips, sql_statements

CONFIRMED = 'order_events_total{status="confirmed"}'
RESULTS = Path(__file__).resolve().parent / "results"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.upper(), value


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.bench_embedded", description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=3000, help="phase 1 orders (0 skips)")
    p.add_argument("--e2e-orders", type=int, default=2000, help="phase 2 orders (0 skips)")
    p.add_argument("--connections", type=int, default=64, help="phase 1 keep-alive connections")
    p.add_argument("--in-flight", type=int, default=50, help="phase 2 orders in flight")
    p.add_argument("--amount", default=DEFAULT_AMOUNT, help="SOL sold per order (for USDC)")
    p.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--lib", action="store_true", help="client on httpx + websockets (slower)")
    p.add_argument("--worker-concurrency", type=int, help="WORKER_CONCURRENCY (server default)")
    p.add_argument(
        "--server-env", action="append", default=[], type=_key_value, help="KEY=VALUE setting"
    )
    p.add_argument(
        "--profile", action="store_true", help="profile the server (py-spy or pyinstrument)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    p.add_argument(
        "--venues",
        default="sim,chain",
        help="venues to run, one after the other in this run (VENUES=sim and/or chain)",
    )
    return p.parse_args(argv)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_phase(
    engine: EngineProcess, phase: str, orders: int, concurrency: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one phase in `args.clients` processes; merge their summaries with server CPU."""
    ctx = mp.get_context("spawn")  # clients start lean, without the driver's imports
    clients = max(1, min(args.clients, orders, concurrency))
    barrier = ctx.Barrier(clients + 1)
    results: Any = ctx.Queue()
    procs = []
    for share, conc in zip(_split(orders, clients), _split(concurrency, clients), strict=True):
        job = ClientJob(phase, "127.0.0.1", engine.port, share, max(1, conc), lib=args.lib)
        proc = ctx.Process(target=client_main, args=(job, barrier, results), daemon=True)
        proc.start()
        procs.append(proc)
    barrier.wait(timeout=60)
    cpu0 = (cpu_seconds(engine.pid), system_busy_seconds())
    parts = collect_parts(procs, results, phase)
    server_cpu, busy = (cpu_seconds(engine.pid) - cpu0[0], system_busy_seconds() - cpu0[1])
    for proc in procs:
        proc.join(10)
    return _merge(parts, orders, server_cpu, busy)


def _merge(
    parts: list[dict[str, Any]], orders: int, server_cpu: float, busy: float
) -> dict[str, Any]:
    start = min(p["start"] for p in parts)
    wall = max(max(p["end"] for p in parts) - start, 1e-6)
    statuses: dict[str, int] = {}
    for part in parts:
        for code, n in part["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    client_cpu = sum(p["cpu_s"] for p in parts)
    latencies = [x for p in parts for x in p["latencies_ms"]]
    units = [x for p in parts for x in p.get("compute_units", [])]
    exact = [sum(p.get("quote_exact", [0, 0, 0])[i] for p in parts) for i in (0, 1, 2)]
    accept = [x for p in parts for x in p["accept_ms"]]
    bad = [x for p in parts for x in p["bad"]]
    market_failed = [x for p in parts for x in p.get("market_failed", [])]
    stages: dict[str, list[int]] = {}
    for part in parts:
        for key, times in part.get("stage_ms", {}).items():
            stages.setdefault(key, []).extend(times)
    return {
        "orders": orders,
        "accepted": statuses.get("201", 0),
        "statuses": statuses,
        "start_monotonic": start,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(server_cpu, 3),
        "server_cores": round(server_cpu / wall, 2),
        "server_cpu_ms_per_order": round(1000 * server_cpu / max(orders, 1), 3),
        "client_cpu_s": round(client_cpu, 3),
        "client_cores": round(client_cpu / wall, 2),
        "other_cores": round(max(0.0, busy - server_cpu - client_cpu) / wall, 2),
        "client_processes": len(parts),
        "client_vm_hwm_kib_max": max(p["vm_hwm_kib"] for p in parts),
        "latencies_ms": latencies,
        "accept_ms": accept,
        "stage_ms": stages,
        "bad": bad,
        "market_failed": market_failed,
        "chain": _chain_summary(units, exact),
    }


def _chain_summary(units: list[int], exact: list[int]) -> dict[str, Any] | None:
    """Compute units per swap and the share of legs executed exactly as quoted."""
    if not units:
        return None
    ordered = sorted(units)
    return {
        "swaps": len(units),
        "cu_per_swap": {
            "mean": round(sum(units) / len(units)),
            "p50": ordered[len(units) // 2],
            "max": ordered[-1],
        },
        "quote_equals_executed": {
            "legs": exact[1],
            "exact": exact[0],
            "more_than_quoted": exact[2],  # the quote leaned low
            "less_than_quoted": exact[1] - exact[0] - exact[2],
            "rate": round(exact[0] / exact[1], 4) if exact[1] else None,
        },
    }


def counters(engine: EngineProcess) -> dict[str, Any]:
    """What the round trips per order are computed from (SQLite statements, here)."""
    return {"sql": {"serve": sql_statements(f"{engine.base_url}/metrics")}}


def intake_phase(engine: EngineProcess, args: argparse.Namespace) -> dict[str, Any]:
    before = counters(engine)
    result = run_phase(engine, "intake", args.orders, args.connections, args)
    result["accepted_per_s"] = round(result["accepted"] / max(result["wall_s"], 1e-6), 1)
    cpu0 = cpu_seconds(engine.pid)
    result["confirmed_by_intake_end"] = int(metric_value(engine.metrics(), CONFIRMED) or 0)
    drained = engine.wait_drained()
    done = time.monotonic()
    confirmed = metric_value(engine.metrics(), CONFIRMED) or 0
    result["drain"] = {
        "drained": drained,
        "confirmed": int(confirmed),
        "server_cpu_s": round(cpu_seconds(engine.pid) - cpu0, 3),
        "executed_per_s": round(confirmed / (done - result["start_monotonic"]), 1),
    }
    result["round_trips_per_order"] = per_order(before, counters(engine), result["accepted"])
    for key in ("latencies_ms", "accept_ms", "stage_ms", "bad", "market_failed"):
        result.pop(key)
    return result


def e2e_phase(engine: EngineProcess, args: argparse.Namespace) -> dict[str, Any]:
    before = counters(engine)
    result = run_phase(engine, "e2e", args.e2e_orders, args.in_flight, args)
    result["round_trips_per_order"] = per_order(before, counters(engine), result["accepted"])
    return summarize_e2e(result)


def server_overrides(args: argparse.Namespace) -> dict[str, str]:
    env = dict(args.server_env)
    if args.worker_concurrency:
        env["WORKER_CONCURRENCY"] = str(args.worker_concurrency)
    return env


def start_engine(
    args: argparse.Namespace, workdir: Path, wrapper: list[str] | None = None
) -> EngineProcess:
    env = server_overrides(args)
    for attempt in range(3):  # another session may be mid-edit of the engine: retry
        engine = EngineProcess.start(workdir, env, wrapper)
        try:
            engine.wait_healthy()
            return engine
        except RuntimeError as exc:
            engine.stop()
            print(f"server did not start (attempt {attempt + 1}): {exc}", file=sys.stderr)
            if attempt < 2:
                time.sleep(60)
    raise SystemExit(2)


def start_profiled(
    args: argparse.Namespace, workdir: Path
) -> tuple[EngineProcess, PySpy | None, Path | None]:
    """The engine, with py-spy attached or under pyinstrument when `--profile` asks."""
    if not args.profile:
        return start_engine(args, workdir), None, None
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"profile-{utc_now():%Y%m%d-%H%M%S}.txt"
    exe = py_spy_path()
    if exe is not None:
        engine = start_engine(args, workdir)
        spy = PySpy(exe, engine.pid, out)
        time.sleep(0.5)  # let py-spy attach
        return engine, spy, None
    wrapper = pyinstrument_wrapper(out)
    if wrapper is None:
        print("--profile: neither py-spy nor pyinstrument is installed", file=sys.stderr)
    return start_engine(args, workdir, wrapper), None, out if wrapper else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oe-bench-") as tmp:
        engine, spy, pyinstrument_out = start_profiled(args, Path(tmp))
        try:
            intake = intake_phase(engine, args)
            e2e = e2e_phase(engine, args)
            server_hwm = vm_hwm_kib(engine.pid)
        finally:
            profile = _stop_profiler(spy)
            engine.stop()
            log_lines = engine.log().splitlines()
    if pyinstrument_out is not None and pyinstrument_out.exists():
        profile = {"pyinstrument_report": str(pyinstrument_out)}
    return {
        "intake": intake,
        "e2e": e2e,
        "memory_kib": {
            "server_vm_hwm": server_hwm,
            "client_vm_hwm_max": max(intake["client_vm_hwm_kib_max"], e2e["client_vm_hwm_kib_max"]),
            "driver_vm_hwm": vm_hwm_kib(),
        },
        "profile": profile,
        "server_log_tail": [x for x in log_lines if not x.startswith("order-engine: serving")][
            -20:
        ],
    }


def _stop_profiler(spy: PySpy | None) -> dict[str, Any] | None:
    if spy is None:
        return None
    err = spy.stop()
    if not spy.out.exists():
        print(f"py-spy wrote no profile: {err}", file=sys.stderr)
        return None
    return {"raw_stacks": str(spy.out), **summarize(spy.out)}


def run_venues(args: argparse.Namespace, venues: str) -> tuple[dict[str, Any], bool]:
    """One full run (intake, then end to end) with `VENUES=venues`; the report and whether
    every order was right."""
    started = utc_now()
    args.server_env = [*[kv for kv in args.server_env if kv[0] != "VENUES"], ("VENUES", venues)]
    report = report_header("embedded", args, {**SERVER_ENV, **server_overrides(args)}, started)
    report.update(run(args))
    targets = (TARGET_INTAKE_PER_S, TARGET_E2E_PER_S)
    path = save_report(report, f"embedded-{venues}", started, args.out, targets)
    e2e = report["e2e"]
    m = report["machine"]
    print(f"\nembedded benchmark, VENUES={venues}: {m['nproc']} x {m['cpu_model']}, "
          f"Python {m['python']}")  # fmt: skip
    print_table(report, TARGET_INTAKE_PER_S, TARGET_E2E_PER_S)
    print_chain(e2e.get("chain"))
    for phase in ("intake", "e2e"):
        print_round_trips(phase, report[phase].get("round_trips_per_order", {}))
    if report["profile"] and "samples" in report["profile"]:
        print_summary(report["profile"])
    elif report["profile"]:
        print(f"\nserver profile (pyinstrument): {report['profile']['pyinstrument_report']}")
    print(f"result: {path}")
    return report, orders_ok(report)


def print_chain(chain: dict[str, Any] | None) -> None:
    if chain is None:
        return
    cu, exact = chain["cu_per_swap"], chain["quote_equals_executed"]
    print(f"  compute units per swap mean/p50/max  {cu['mean']} / {cu['p50']} / {cu['max']}")
    print(f"  legs executed exactly as quoted      {exact['exact']}/{exact['legs']} "
          f"(more than quoted {exact['more_than_quoted']}, "
          f"less {exact['less_than_quoted']})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    os.environ[AMOUNT_ENV] = str(args.amount)  # the client processes read it
    results = {v: run_venues(args, v) for v in args.venues.split(",") if v}
    if {"sim", "chain"} <= set(results) and args.e2e_orders:
        sim = results["sim"][0]["e2e"]["confirmed_per_s"]
        chain = results["chain"][0]["e2e"]["confirmed_per_s"]
        ratio = chain / sim if sim else 0.0
        print(f"\nchain vs sim, end to end: {chain:.0f} vs {sim:.0f} orders/s = {ratio:.2f}x "
              f"(target >= 0.90x)")  # fmt: skip
    return 0 if all(ok for _, ok in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
