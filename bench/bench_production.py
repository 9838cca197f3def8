"""Production-mode benchmark: `order-engine api` and `worker` processes on a fresh
PostgreSQL database and a private Redis, driven over real HTTP and WebSocket by client
processes (the embedded benchmark's client), connections spread round-robin over the APIs.

Same phases and checks as `bench.bench_embedded`, then: every order in PostgreSQL is
`confirmed` with seq 5. CPU is reported per process group (api, worker, postgres, redis,
client). Exit code 1 if anything was wrong.

    .venv/bin/python -m bench.bench_production [--api-procs 1] [--api-workers 1]
        [--workers 1] [--concurrency N] [--orders 3000] [--e2e-orders 2000] [--chain]
        [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import bench.client
from bench.bench_embedded import _merge, _split
from bench.client import AMOUNT_ENV, DEFAULT_AMOUNT, ClientJob, RawHttp, client_main
from bench.cluster import (
    Cluster,
    confirmed,
    ended_right,
    engine_connections,
    failed_codes,
    order_attempts,
    order_states,
    unfinished,
)
from bench.common import (
    SERVER_ENV,
    system_busy_seconds,
    utc_now,
    vm_hwm_kib,
)
from bench.profiling import PySpy, print_summary, py_spy_path, summarize
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
from bench.round_trips import per_order, print_round_trips

RESULTS = Path(__file__).resolve().parent / "results"
PROFILED = ("api", "worker", "localnet")  # the engine's processes (`--profile`)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.bench_production", description=__doc__.split("\n")[0])
    p.add_argument("--api-procs", type=int, default=1, help="`order-engine api` processes")
    p.add_argument("--api-workers", type=int, default=1, help="--workers of each api process")
    p.add_argument("--workers", type=int, default=1, help="`order-engine worker` processes")
    p.add_argument("--concurrency", type=int, help="--concurrency of each worker")
    p.add_argument("--orders", type=int, default=3000, help="phase 1 orders (0 skips)")
    p.add_argument("--e2e-orders", type=int, default=2000, help="phase 2 orders (0 skips)")
    p.add_argument("--connections", type=int, default=64, help="phase 1 keep-alive connections")
    p.add_argument("--in-flight", type=int, default=50, help="phase 2 orders in flight")
    p.add_argument("--amount", default=DEFAULT_AMOUNT, help="SOL sold per order (for USDC)")
    p.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    p.add_argument(
        "--chain",
        action="store_true",
        help="chain venues: an `order-engine localnet` process, the engine over JSON-RPC",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each api, worker and localnet process during the end-to-end phase",
    )
    args = p.parse_args(argv)
    args.lib = False  # the raw client only: cheap, so the engine is what gets measured
    return args


def spread_client_main(
    job: ClientJob, ports: list[int], first: int, barrier: Barrier, results: Queue[dict[str, Any]]
) -> None:
    """A client process whose connections take the API ports in turn (from `first`)."""
    turn = itertools.islice(itertools.cycle(ports), first, None)
    setattr(bench.client, "RawHttp", lambda host, _port: RawHttp(host, next(turn)))  # noqa: B010
    client_main(job, barrier, results)


def run_phase(
    cluster: Cluster, phase: str, orders: int, concurrency: int, clients: int
) -> dict[str, Any]:
    """One phase in client processes; their merged summary with CPU per process group."""
    ctx = mp.get_context("spawn")
    clients = max(1, min(clients, orders, concurrency))
    barrier = ctx.Barrier(clients + 1)
    results: Any = ctx.Queue()
    procs, ports = [], cluster.api_ports
    shares = zip(_split(orders, clients), _split(concurrency, clients), strict=True)
    for n, (share, conc) in enumerate(shares):
        job = ClientJob(phase, "127.0.0.1", ports[n % len(ports)], share, max(1, conc))
        args = (job, ports, n, barrier, results)
        proc = ctx.Process(target=spread_client_main, args=args, daemon=True)
        proc.start()
        procs.append(proc)
    barrier.wait(timeout=60)
    cpu0, busy0 = cluster.cpu(), system_busy_seconds()
    parts = collect_parts(procs, results, phase)
    cpu1, busy = cluster.cpu(), system_busy_seconds() - busy0
    for proc in procs:
        proc.join(10)
    groups = {name: cpu1[name] - cpu0.get(name, 0.0) for name in cpu1}
    result = _merge(parts, orders, sum(groups.values()), busy)
    groups["client"] = result["client_cpu_s"]
    result["wall_s"] = max(result["wall_s"], 0.001)  # a phase of 0 orders
    result["cpu_groups"] = {
        name: {"cpu_s": round(cpu, 3), "cores": round(cpu / result["wall_s"], 2)}
        for name, cpu in groups.items()
    }
    return result


def intake_phase(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    before = confirmed(asyncio.run(order_states(cluster.database_url)))
    counts = cluster.counters()
    result = run_phase(cluster, "intake", args.orders, args.connections, args.clients)
    result["accepted_per_s"] = round(result["accepted"] / result["wall_s"], 1)
    states = asyncio.run(order_states(cluster.database_url))
    result["confirmed_by_intake_end"] = confirmed(states) - before
    cpu0, deadline = cluster.cpu(), time.monotonic() + 300
    while unfinished(states) and time.monotonic() < deadline:
        time.sleep(0.05)
        states = asyncio.run(order_states(cluster.database_url))
    done, cpu1 = time.monotonic(), cluster.cpu()
    result["drain"] = {
        "drained": not unfinished(states),
        "confirmed": confirmed(states) - before,
        "server_cpu_s": round(sum(cpu1.values()) - sum(cpu0.values()), 3),
        "executed_per_s": round(
            (confirmed(states) - before) / (done - result["start_monotonic"]), 1
        ),
    }
    result["round_trips_per_order"] = per_order(counts, cluster.counters(), result["accepted"])
    for key in ("latencies_ms", "accept_ms", "stage_ms", "bad", "market_failed"):
        result.pop(key)
    return result


def e2e_phase(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    counts = cluster.counters()
    result = run_phase(cluster, "e2e", args.e2e_orders, args.in_flight, args.clients)
    result["round_trips_per_order"] = per_order(counts, cluster.counters(), result["accepted"])
    return summarize_e2e(result)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oe-bench-prod-") as tmp:
        cluster = Cluster(Path(tmp))
        try:
            cluster.launch(
                args.api_procs, args.api_workers, args.workers, args.concurrency, args.chain
            )
            intake = intake_phase(cluster, args)
            spies = profilers(cluster, args)
            e2e = e2e_phase(cluster, args)
            e2e["profiles"] = stop_profilers(spies)
            states = asyncio.run(order_states(cluster.database_url))
            failed = asyncio.run(failed_codes(cluster.database_url))
            attempts = asyncio.run(order_attempts(cluster.database_url))
            connections = asyncio.run(engine_connections(cluster.database_url))
            hwm = {g: max(vm_hwm_kib(p.pid) for p in ps) for g, ps in cluster.groups.items()}
        finally:
            exits = cluster.stop()
            log_lines = [x for g in ("api", "worker") for x in cluster.logs(g).splitlines()]
    expected = intake["accepted"] + e2e["accepted"] + len(cluster.api_ports)  # + warm-ups
    return {
        "layout": {"api_ports": cluster.api_ports, "exit_codes": exits},
        "intake": intake,
        "e2e": e2e,
        "stored": {
            "orders_by_status_seq": {f"{s}/{q}": n for (s, q), n in states.items()},
            "expected_confirmed": expected,
            "failed_by_code": failed,
            "all_ended_right": ended_right(states, failed, expected),
            "orders_by_attempts": attempts,
            "engine_connections_at_end": connections,
        },
        "memory_kib": {
            "server_vm_hwm": max(hwm.values(), default=0),
            "per_group_vm_hwm_max": hwm,
            "client_vm_hwm_max": max(intake["client_vm_hwm_kib_max"], e2e["client_vm_hwm_kib_max"]),
        },
        "server_log_tail": [
            x for x in log_lines if x and not x.startswith("order-engine: serving")
        ][-20:],
    }


def profilers(cluster: Cluster, args: argparse.Namespace) -> dict[str, PySpy]:
    """With `--profile`: py-spy attached to each engine process (named `<group>-<n>`)."""
    exe = py_spy_path() if args.profile else None
    if args.profile and exe is None:
        print("--profile: py-spy is not installed (make install)", file=sys.stderr)
    if exe is None:
        return {}
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = f"{utc_now():%Y%m%d-%H%M%S}"
    return {
        f"{group}-{n}": PySpy(exe, proc.pid, args.out / f"profile-{stamp}-{group}-{n}.txt")
        for group in PROFILED
        for n, proc in enumerate(cluster.groups.get(group, []))
    }


def stop_profilers(spies: dict[str, PySpy]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for name, spy in spies.items():
        err = spy.stop()
        if spy.out.exists():
            profiles[name] = {"raw_stacks": str(spy.out), **summarize(spy.out)}
        else:
            print(f"py-spy wrote no profile of {name}: {err}", file=sys.stderr)
    return profiles


def print_groups(report: dict[str, Any]) -> None:
    for phase in ("intake", "e2e"):
        if report[phase]["orders"]:
            groups, orders = report[phase]["cpu_groups"], report[phase]["orders"]
            cells = ", ".join(f"{name} {g['cores']}" for name, g in groups.items())
            print(f"  {phase} cores by process group: {cells}")
            per_order = ", ".join(
                f"{name} {1000 * g['cpu_s'] / orders:.2f}"
                for name, g in groups.items()
                if name != "client"
            )
            print(f"  {phase} CPU ms per order by process group: {per_order}")
    stored = report["stored"]
    expected = stored["expected_confirmed"]
    print(f"  stored orders: {stored['orders_by_status_seq']} (expected {expected}: confirmed/5, "
          f"or failed on the market; failed by code: {stored['failed_by_code']})")  # fmt: skip
    by_attempts = stored["orders_by_attempts"]
    mean = sum(a * n for a, n in by_attempts.items()) / max(1, sum(by_attempts.values()))
    print(f"  orders by attempts taken: {by_attempts} (mean {mean:.3f}; a revert costs one more)")
    held = stored["engine_connections_at_end"]
    print(f"  PostgreSQL connections the engine held at the end: {held}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    os.environ[AMOUNT_ENV] = str(args.amount)  # the client processes read it
    started = utc_now()
    report = report_header("production", args, SERVER_ENV, started)
    report.update(run(args))
    targets = (TARGET_INTAKE_PER_S, TARGET_E2E_PER_S)
    path = save_report(report, "production", started, args.out, targets)
    e2e = report["e2e"]
    m = report["machine"]
    print(f"production benchmark, {m['nproc']} x {m['cpu_model']}, Python {m['python']}")
    chain = " + localnet (chain venues over JSON-RPC)" if args.chain else " (simulated venues)"
    print(
        f"  layout: {args.api_procs} api x --workers {args.api_workers}, "
        f"{args.workers} worker{chain}"
    )
    print_table(report, TARGET_INTAKE_PER_S, TARGET_E2E_PER_S)
    print_groups(report)
    for phase in ("intake", "e2e"):
        print_round_trips(phase, report[phase].get("round_trips_per_order", {}))
    if e2e.get("chain"):
        from bench.bench_embedded import print_chain

        print_chain(e2e["chain"])
    for name, profile in e2e.get("profiles", {}).items():
        print_summary(profile, process=name)
    print(f"\nresult: {path}")
    ok = orders_ok(report) and report["stored"]["all_ended_right"]
    ok = ok and all(code == 0 for code in report["layout"]["exit_codes"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
