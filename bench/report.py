"""The benchmark's printed result table."""

from __future__ import annotations

import json
import queue
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import git_commit, machine_info, percentile

TARGET_INTAKE_PER_S = 1300.0
TARGET_E2E_PER_S = 430.0
TARGET_CPU_MS_PER_ORDER = 3.0


_MARKET_NOTE = "slippage on every attempt: right, not confirmed"


def _cores(phase: dict[str, Any]) -> str:
    return f"{phase['server_cores']} / {phase['client_cores']} / {phase['other_cores']}"


def _intake_rows(i: dict[str, Any], target: float) -> list[tuple[str, str, str]]:
    return [
        ("intake accepted/s", f"{i['accepted_per_s']:.0f}", f"target >= {target:.0f}"),
        ("intake accepted", f"{i['accepted']}/{i['orders']} in {i['wall_s']} s", ""),
        ("intake cores server/client/other", _cores(i), ""),
        ("intake server CPU/order", f"{i['server_cpu_ms_per_order']} ms", ""),
        ("confirmed by the end of intake", str(i["confirmed_by_intake_end"]), ""),
        ("executed/s, intake start to drained", f"{i['drain']['executed_per_s']:.0f}", ""),
    ]


def _e2e_rows(e: dict[str, Any], target: float) -> list[tuple[str, str, str]]:
    lat = e["submit_to_confirmed_ms"]
    return [
        ("e2e confirmed/s", f"{e['confirmed_per_s']:.0f}", f"target >= {target:.0f}"),
        ("e2e lifecycles ok", f"{e['confirmed_ok']}/{e['orders']} in {e['wall_s']} s", ""),
        ("e2e failed on the market's move", str(e["market_failed_count"]), _MARKET_NOTE),
        ("e2e submit->confirmed p50/p99", f"{lat['p50']} / {lat['p99']} ms", ""),
        ("e2e cores server/client/other", _cores(e), ""),
        ("e2e server CPU/order", f"{e['server_cpu_ms_per_order']} ms", ""),
    ]


def print_table(report: dict[str, Any], intake_target: float, e2e_target: float) -> None:
    i, e, m = report["intake"], report["e2e"], report["memory_kib"]
    rows = _intake_rows(i, intake_target) if i["orders"] else []
    rows += _e2e_rows(e, e2e_target) if e["orders"] else []
    rows += [
        ("server peak RSS (VmHWM)", f"{m['server_vm_hwm'] / 1024:.1f} MiB", ""),
        ("client peak RSS (per process)", f"{m['client_vm_hwm_max'] / 1024:.1f} MiB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:<28} {target}".rstrip())
    print("  (cores: CPU seconds per wall second; other = the rest of the machine)")
    for key, stage in e.get("stage_ms", {}).items():
        print(f"  e2e {key}: {stage['count']} times, p50 {stage['p50']} / p99 {stage['p99']} ms")
    for example in e.get("bad_examples", []):
        print(f"  BAD: {example}")
    for example in e.get("market_failed_examples", []):
        print(f"  failed on the market: {example}")
    for line in report["server_log_tail"]:
        print(f"  server log: {line}")


def orders_ok(report: dict[str, Any]) -> bool:
    """Whether every order of the run ended right: each intake POST accepted and the queue
    drained; each end-to-end order streamed its whole lifecycle, confirmed or (a market
    failure) failed on slippage; no wrong lifecycle."""
    intake, e2e = report["intake"], report["e2e"]
    ended = e2e["confirmed_ok"] + e2e["market_failed_count"]
    return bool(
        intake["accepted"] == intake["orders"]
        and intake["drain"]["drained"]
        and e2e["bad_count"] == 0
        and ended == e2e["orders"]
    )


def collect_parts(procs: list[Any], results: Any, phase: str) -> list[dict[str, Any]]:
    """Each client process's result, failing fast if one of them died."""
    parts: list[dict[str, Any]] = []
    while len(parts) < len(procs):
        try:
            parts.append(results.get(timeout=1.0))
        except queue.Empty:
            if sum(p.is_alive() for p in procs) < len(procs) - len(parts):
                raise SystemExit(f"a client process died in the {phase} phase") from None
    return parts


def save_report(
    report: dict[str, Any], kind: str, started: datetime, out: Path, targets: tuple[float, float]
) -> Path:
    """Mark whether the targets were met, drop internal fields, write the JSON file."""
    intake, e2e = report["intake"], report["e2e"]
    report["targets"]["met"] = (
        intake["accepted_per_s"] >= targets[0] or not intake["orders"]
    ) and (e2e["confirmed_per_s"] >= targets[1] or not e2e["orders"])
    intake.pop("start_monotonic")
    e2e.pop("start_monotonic")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{started:%Y-%m-%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def report_header(
    kind: str, args: Any, server_env: dict[str, str], started: datetime
) -> dict[str, Any]:
    """What every benchmark result records about its run: what, when, how, where."""
    return {
        "benchmark": kind,
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(
            [Path(sys.executable).name, "-m", f"bench.bench_{kind}", *sys.argv[1:]]
        ),
        "git_commit": git_commit(),
        "machine": machine_info(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "server_env": server_env,
        "targets": {"intake_per_s": TARGET_INTAKE_PER_S, "e2e_per_s": TARGET_E2E_PER_S},
    }


def summarize_e2e(result: dict[str, Any]) -> dict[str, Any]:
    """An end-to-end phase's raw client results → confirmed/s, bad lifecycles, latencies."""
    latencies, accept = result.pop("latencies_ms"), result.pop("accept_ms")
    result["confirmed_ok"] = len(latencies)
    result["confirmed_per_s"] = round(len(latencies) / max(result["wall_s"], 1e-6), 1)
    result["bad_count"] = len(result["bad"])
    result["bad_examples"] = result.pop("bad")[:10]
    result["market_failed_count"] = len(result["market_failed"])
    result["market_failed_examples"] = result.pop("market_failed")[:10]
    result["submit_to_confirmed_ms"] = {
        f"p{p}": round(percentile(latencies, p), 2) for p in (50, 90, 99, 100)
    }
    result["submit_to_201_ms"] = {f"p{p}": round(percentile(accept, p), 2) for p in (50, 99)}
    result["stage_ms"] = {
        key: {"count": len(times), "p50": percentile(times, 50), "p99": percentile(times, 99)}
        for key, times in sorted(result.pop("stage_ms").items(), key=lambda kv: -len(kv[1]))
    }
    return result
