"""The production-mode processes of a benchmark: a fresh PostgreSQL database, a private
`redis-server`, `order-engine api` and `worker` processes; CPU per process group."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.client import RawHttp, stream_raw
from bench.common import CLK_TCK, SERVER_ENV, free_port, http_get, venv_bin
from bench.lifecycles import HAPPY, MARKET_FAILURES, lifecycle_problem
from bench.round_trips import redis_commands, sql_statements

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, comm, own + reaped children's CPU seconds) of every process."""
    table: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), comm, cpu)
    return table


def tree_cpu(roots: list[int], table: dict[int, tuple[int, str, float]]) -> float:
    """CPU seconds of the process trees under `roots`, exited children included."""
    members, frontier = set(), [r for r in roots if r in table]
    while frontier:
        pid = frontier.pop()
        members.add(pid)
        frontier += [p for p, row in table.items() if row[0] == pid and p not in members]
    return sum(table[p][2] for p in members)


def postgres_roots(table: dict[int, tuple[int, str, float]]) -> list[int]:
    """The postmaster(s): `postgres` processes whose parent is not one."""
    return [
        pid
        for pid, (ppid, comm, _) in table.items()
        if comm == "postgres" and table.get(ppid, (0, "", 0.0))[1] != "postgres"
    ]


@dataclass
class Cluster:
    """Everything one production benchmark run starts; `stop` ends all of it."""

    workdir: Path
    database: str = field(default_factory=lambda: f"oe_bench_{secrets.token_hex(5)}")
    api_ports: list[int] = field(default_factory=list)
    groups: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    rpc_url: str = ""
    redis_port: int = 0
    worker_metrics_ports: list[int] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"{PG_SERVER}/{self.database}"

    def cpu(self, client_pids: list[int] | None = None) -> dict[str, float]:
        """CPU seconds so far of each group: api, worker, redis, postgres (whole server)."""
        table = _proc_table()
        out = {name: tree_cpu([p.pid for p in procs], table) for name, procs in self.groups.items()}
        out["postgres"] = tree_cpu(postgres_roots(table), table)
        return out

    def start_redis(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        port = self.redis_port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        process = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self.groups["redis"] = [process]
        deadline = time.monotonic() + 5
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"redis-server did not start on port {port}")
            time.sleep(0.01)
        return f"redis://127.0.0.1:{port}/0"

    def start(self, group: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{group}-{len(self.groups.get(group, []))}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(venv_bin("order-engine")), *args],
                cwd=self.workdir,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.groups.setdefault(group, []).append(process)
        return process

    def launch(
        self,
        api_procs: int,
        api_workers: int,
        workers: int,
        concurrency: int | None,
        chain: bool = False,
    ) -> None:
        """Database, Redis, migrations (and `order-engine localnet` with `chain`), then the
        API and worker processes, all ready."""
        from order_engine.settings import Settings  # here: forked clients stay small

        asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
        self.env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        self.env.update(SERVER_ENV, DATABASE_URL=self.database_url, REDIS_URL=self.start_redis())
        self.env["REDIS_PREFIX"] = f"oe-bench-{secrets.token_hex(5)}"
        if chain:
            self.start_localnet()
        migrate = self.start("migrate", "migrate")
        if migrate.wait(120) != 0:
            raise SystemExit(f"migrate failed: {self.logs('migrate')}")
        del self.groups["migrate"]
        self._admin_key()
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        for _ in range(workers):
            self.worker_metrics_ports.append(free_port())
            metrics = ["--metrics-port", str(self.worker_metrics_ports[-1])]
            self.start("worker", "worker", *extra, *metrics)
        for _ in range(api_procs):
            port = free_port()
            self.api_ports.append(port)
            self.start("api", "api", "--port", str(port), "--workers", str(api_workers))
        for port, process in zip(self.api_ports, self.groups["api"], strict=True):
            self._wait_ready(port, process)
        problem = asyncio.run(warm_up(self.api_ports))
        if problem:
            raise SystemExit(f"warm-up order failed: {problem}\n{self.logs('worker')}")

    def _admin_key(self) -> None:
        """An admin account and key for the load (api requires keys), in the environment
        the clients read it from."""
        run = functools.partial(
            subprocess.run, cwd=self.workdir, env=self.env, capture_output=True, check=True
        )
        order_engine = str(venv_bin("order-engine"))
        run([order_engine, "accounts", "create", "bench", "--admin"])
        made = run([order_engine, "keys", "create", "bench", "--scope", "admin"], text=True)
        os.environ["ORDER_ENGINE_API_KEY"] = made.stdout.strip()

    def start_localnet(self) -> None:
        """`order-engine localnet` (its own data directory and wallet); the engine's
        processes then trade on it over JSON-RPC."""
        data = self.workdir / "localnet"
        port = free_port()
        self.env["DATA_DIR"] = str(data)
        process = self.start("localnet", "localnet", "--port", str(port))
        self.rpc_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while http_get(f"{self.rpc_url}/health", 0.5)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"localnet did not start: {self.logs('localnet')}")
            time.sleep(0.05)
        self.env.update(
            SOLANA_RPC_URL=self.rpc_url,
            WALLET_KEYPAIR=str(data / "wallet.json"),
            DATA_DIR=str(self.workdir / "engine"),
        )

    def rpc_requests(self) -> dict[str, float] | None:
        """JSON-RPC calls the localnet answered so far, and the HTTP requests they came in
        (None without a localnet)."""
        if not self.rpc_url:
            return None
        status, body = http_get(f"{self.rpc_url}/stats", 2)
        if status != 200:
            return None
        stats = orjson.loads(body)
        counts = {"calls": float(stats["requests"])}
        if "httpRequests" in stats:  # an older localnet counts calls only
            counts["posts"] = float(stats["httpRequests"])
        return counts

    def counters(self) -> dict[str, Any]:
        """SQL statements per engine process, Redis commands by name, JSON-RPC requests:
        what `bench.round_trips.per_order` divides by the orders of a phase."""
        sql = {
            f"api-{n}": sql_statements(f"http://127.0.0.1:{port}/metrics")
            for n, port in enumerate(self.api_ports)
        }
        for n, port in enumerate(self.worker_metrics_ports):
            sql[f"worker-{n}"] = sql_statements(f"http://127.0.0.1:{port}/metrics")
        return {"sql": sql, "redis": redis_commands(self.redis_port), "rpc": self.rpc_requests()}

    def _wait_ready(self, port: int, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while http_get(f"http://127.0.0.1:{port}/ready", 0.5)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"api on port {port} not ready: {self.logs('api')}")
            time.sleep(0.05)

    def logs(self, group: str) -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in self.log_paths(group))

    def log_paths(self, group: str) -> list[Path]:
        return sorted(self.workdir.glob(f"{group}-*.log"))

    def stop(self) -> dict[str, int | None]:
        """SIGTERM the engine, then Redis; drop the database. Exit code per process."""
        codes: dict[str, int | None] = {}
        engine = [(g, p) for g, ps in self.groups.items() if g != "redis" for p in ps]
        for group in (engine, [("redis", p) for p in self.groups.get("redis", [])]):
            for _, process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for name, process in group:
                try:
                    codes[f"{name}-{process.pid}"] = process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes[f"{name}-{process.pid}"] = None
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        return codes


def _redis_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def warm_up(ports: list[int]) -> str | None:
    """One order through each API, streamed to its close; why it failed, or None."""
    import orjson

    for port in ports:
        http = RawHttp("127.0.0.1", port)
        status, body = await http.post_order()
        await http.close()
        if status != 201:
            return f"submit to port {port} answered {status} {body[:200]!r}"
        answer = orjson.loads(body)
        path = "/" + answer["wsUrl"].split("/", 3)[3]
        events, code, _ = await asyncio.wait_for(stream_raw("127.0.0.1", port, path), 60)
        problem = lifecycle_problem(answer["orderId"], events, code)
        if problem:
            return problem
    return None


async def _fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
    finally:
        await conn.close()
    return rows


async def order_states(database_url: str) -> dict[tuple[str, int], int]:
    """(status, seq) -> number of orders, read straight from PostgreSQL."""
    rows = await _fetch(database_url, "SELECT status, seq, count(*) AS n FROM orders GROUP BY 1, 2")
    return {(r["status"], r["seq"]): r["n"] for r in rows}


async def failed_codes(database_url: str) -> dict[str, int]:
    """The error code of every failed order -> number of orders."""
    sql = (
        "SELECT coalesce(error::json ->> 'code', '') AS code, count(*) AS n FROM orders "
        "WHERE status = 'failed' GROUP BY 1"
    )
    return {r["code"]: r["n"] for r in await _fetch(database_url, sql)}


def ended_right(states: dict[tuple[str, int], int], failed: dict[str, int], expected: int) -> bool:
    """Every stored order ended: confirmed at seq 5, or failed on the market's move."""
    market = set(failed) <= MARKET_FAILURES
    shapes = all(status == "failed" or (status, seq) == ("confirmed", 5) for status, seq in states)
    return market and shapes and sum(states.values()) == expected


async def order_attempts(database_url: str) -> dict[int, int]:
    """Attempts an order took -> number of orders (a slippage revert costs one more)."""
    sql = "SELECT attempt, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1"
    return {r["attempt"]: r["n"] for r in await _fetch(database_url, sql)}


async def engine_connections(database_url: str) -> int:
    """Connections the engine's processes hold to the database now (its pools keep what
    the load opened: idle ones stay)."""
    sql = (
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'order-engine'"
    )
    return int((await _fetch(database_url, sql))[0]["n"])


def confirmed(states: dict[tuple[str, int], int]) -> int:
    return states.get(("confirmed", len(HAPPY)), 0)


def unfinished(states: dict[tuple[str, int], int]) -> int:
    terminal = ("confirmed", "failed", "cancelled")
    return sum(n for (status, _), n in states.items() if status not in terminal)
