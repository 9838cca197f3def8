"""Round trips per order: SQL statements (each engine process's `db_statements_total`),
Redis commands (the benchmark's private `redis-server`, `INFO commandstats`) and JSON-RPC
requests (the localnet's `/stats`), read before and after a phase."""

from __future__ import annotations

import socket
from typing import Any

from bench.common import http_get, metric_value

Counts = dict[str, float]


def sql_statements(metrics_url: str) -> float | None:
    """`db_statements_total` of one engine process (None when it does not answer)."""
    status, body = http_get(metrics_url, 5.0)
    if status != 200:
        return None
    return metric_value(body.decode(), "db_statements_total")


def redis_commands(port: int) -> Counts:
    """Calls per command (`cmdstat_<name>`) the Redis server on `port` has answered; the
    commands a Lua script runs count too, under their own names."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"INFO commandstats\r\n")
        data = b""
        while not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    counts: Counts = {}
    for line in data.decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_") :].partition(":")
            calls = dict(f.split("=", 1) for f in fields.split(","))["calls"]
            counts[name] = float(calls)
    return counts


def _complete(data: bytes) -> bool:
    """Whether `data` holds the whole bulk-string reply `$<n>\\r\\n<n bytes>\\r\\n`."""
    head, found, rest = data.partition(b"\r\n")
    return bool(found) and head.startswith(b"$") and len(rest) >= int(head[1:]) + 2


def difference(before: Counts, after: Counts) -> Counts:
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}


def per_order(before: dict[str, Any], after: dict[str, Any], orders: int) -> dict[str, Any]:
    """{"sql": {process: n}, "redis": {command: n}, "rpc": {calls, posts}} before and after
    a phase →
    the same per order, with totals."""
    if orders <= 0:
        return {}
    out: dict[str, Any] = {}
    sql = {
        name: (after["sql"][name] - before["sql"].get(name, 0.0)) / orders
        for name in after.get("sql", {})
        if after["sql"][name] is not None and before["sql"].get(name) is not None
    }
    if sql:
        out["sql_statements"] = round(sum(sql.values()), 2)
        out["sql_statements_by_process"] = {k: round(v, 2) for k, v in sql.items()}
    if "redis" in after:
        calls = difference(before["redis"], after["redis"])
        calls.pop("info", None)  # this module's own reads
        out["redis_commands"] = round(sum(calls.values()) / orders, 2)
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:12]
        out["redis_commands_by_name"] = {k: round(v / orders, 2) for k, v in top}
    if after.get("rpc") is not None and before.get("rpc") is not None:
        rpc = difference(before["rpc"], after["rpc"])
        out["rpc_calls"] = round(rpc.get("calls", 0.0) / orders, 2)
        if "posts" in after["rpc"]:
            out["rpc_http_requests"] = round(rpc.get("posts", 0.0) / orders, 2)
    return out


def print_round_trips(phase: str, counts: dict[str, Any]) -> None:
    if not counts:
        return
    cells = []
    if "sql_statements" in counts:
        parts = ", ".join(f"{k} {v}" for k, v in counts["sql_statements_by_process"].items())
        cells.append(f"SQL statements {counts['sql_statements']} ({parts})")
    if "redis_commands" in counts:
        cells.append(f"Redis commands {counts['redis_commands']}")
    if "rpc_calls" in counts:
        posts = counts.get("rpc_http_requests", "?")
        cells.append(f"JSON-RPC calls {counts['rpc_calls']} in {posts} HTTP requests")
    print(f"  {phase} per order: " + "; ".join(cells))
    if "redis_commands_by_name" in counts:
        names = ", ".join(f"{k} {v}" for k, v in counts["redis_commands_by_name"].items())
        print(f"    Redis by command: {names}")
