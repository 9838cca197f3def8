"""Scale-out in production mode: the production benchmark once per layout (API processes x
worker processes, e.g. 1x1, 1x2, 2x1), one after the other with the same load, and a table
of throughput, latency and where the CPU went (which process saturates). Each layout's full
result is written like `bench.bench_production`'s; exit code 1 if any order was wrong.

    .venv/bin/python -m bench.bench_scaling [--layouts 1x1,1x2,2x1] [--chain]
        [--orders 2000] [--e2e-orders 2000] [--in-flight 50]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from bench.bench_production import RESULTS, run
from bench.client import AMOUNT_ENV, DEFAULT_AMOUNT
from bench.common import SERVER_ENV, utc_now
from bench.report import (
    TARGET_E2E_PER_S,
    TARGET_INTAKE_PER_S,
    orders_ok,
    report_header,
    save_report,
)


def _layout(text: str) -> tuple[int, int]:
    apis, sep, workers = text.partition("x")
    if not sep or not apis.isdigit() or not workers.isdigit() or "0" in (apis, workers):
        raise argparse.ArgumentTypeError(f"a layout is APIxWORKERS, e.g. 1x2, not {text!r}")
    return int(apis), int(workers)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.bench_scaling", description=__doc__.split("\n")[0])
    p.add_argument("--layouts", default="1x1,1x2,2x1", help="APIxWORKERS, comma-separated")
    p.add_argument("--orders", type=int, default=2000, help="intake orders per layout")
    p.add_argument("--e2e-orders", type=int, default=2000, help="end-to-end orders per layout")
    p.add_argument("--in-flight", type=int, default=50, help="end-to-end orders in flight")
    p.add_argument("--connections", type=int, default=64, help="intake keep-alive connections")
    p.add_argument("--clients", type=int, default=2, help="client processes")
    p.add_argument("--concurrency", type=int, help="--concurrency of each worker")
    p.add_argument("--amount", default=DEFAULT_AMOUNT, help="SOL sold per order (for USDC)")
    p.add_argument("--chain", action="store_true", help="chain venues over a localnet")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    args = p.parse_args(argv)
    args.layouts = [_layout(x) for x in args.layouts.split(",") if x]
    args.api_workers, args.lib, args.profile = 1, False, False
    return args


def layout_args(args: argparse.Namespace, apis: int, workers: int) -> argparse.Namespace:
    """`bench_production`'s settings for one layout."""
    return argparse.Namespace(**{**vars(args), "api_procs": apis, "workers": workers})


def run_layout(args: argparse.Namespace, apis: int, workers: int) -> tuple[dict[str, Any], bool]:
    layout = layout_args(args, apis, workers)
    started = utc_now()
    report = report_header("production", layout, SERVER_ENV, started)
    report.update(run(layout))
    save_report(report, f"scaling-{apis}x{workers}", started, args.out,
                (TARGET_INTAKE_PER_S, TARGET_E2E_PER_S))  # fmt: skip
    ok = orders_ok(report) and report["stored"]["all_ended_right"]
    return report, ok


def _busiest(groups: dict[str, dict[str, float]]) -> str:
    name = max((g for g in groups if g != "client"), key=lambda g: groups[g]["cores"])
    return f"{name} {groups[name]['cores']}"


def print_row(apis: int, workers: int, report: dict[str, Any]) -> None:
    intake, e2e = report["intake"], report["e2e"]
    lat = e2e["submit_to_confirmed_ms"]
    cores = ", ".join(f"{n} {g['cores']}" for n, g in e2e["cpu_groups"].items())
    busiest = _busiest(e2e["cpu_groups"])
    print(f"  {apis} api x {workers} worker: intake {intake['accepted_per_s']:.0f}/s, "
          f"e2e {e2e['confirmed_per_s']:.0f}/s (p50 {lat['p50']:.0f} / p99 {lat['p99']:.0f} ms), "
          f"CPU/order {e2e['server_cpu_ms_per_order']} ms; busiest {busiest}")  # fmt: skip
    print(f"      e2e cores: {cores}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    os.environ[AMOUNT_ENV] = str(args.amount)
    results = [(a, w, *run_layout(args, a, w)) for a, w in args.layouts]
    venues = "chain venues over a localnet" if args.chain else "simulated venues"
    print(f"production scaling, {venues}, {args.in_flight} orders in flight:")
    for apis, workers, report, _ in results:
        print_row(apis, workers, report)
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
