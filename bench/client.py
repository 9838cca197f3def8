"""Benchmark client processes: a minimal keep-alive HTTP/1.1 client and WebSocket reader on
raw asyncio streams (cheap, so the server is what gets measured), or httpx + websockets
(`lib=True`) to compare."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, Protocol

import orjson

from bench.common import vm_hwm_kib
from bench.lifecycles import Event, lifecycle_problem, market_failure, reason

AMOUNT_ENV = "BENCH_ORDER_AMOUNT"  # SOL per order (the bench sets it for its clients)
DEFAULT_AMOUNT = "10"
IDLE_REUSE_S = 4.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class ClientJob:
    phase: str  # "intake" or "e2e"
    host: str
    port: int
    orders: int  # this process's share
    concurrency: int  # connections (intake) or orders in flight (e2e) in this process
    lib: bool = False
    timeout_s: float = 60.0


class OrderPoster(Protocol):
    async def post_order(self) -> tuple[int, bytes]: ...
    async def close(self) -> None: ...


API_KEY_ENV = "ORDER_ENGINE_API_KEY"  # set by the bench once the engine made its key


def order_body() -> bytes:
    """A market order selling `BENCH_ORDER_AMOUNT` SOL for USDC."""
    amount = os.environ.get(AMOUNT_ENV, DEFAULT_AMOUNT)
    return b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"%s"}' % amount.encode()


def auth_line() -> bytes:
    key = os.environ.get(API_KEY_ENV)
    return b"" if not key else b"Authorization: Bearer %s\r\n" % key.encode()


class RawHttp:
    """One keep-alive connection; reconnects after `Connection: close` or an error."""

    def __init__(self, host: str, port: int, body: bytes | None = None) -> None:
        self._host, self._port = host, port
        body = order_body() if body is None else body
        self._request = (
            b"POST /api/orders/execute HTTP/1.1\r\nHost: %s:%d\r\n%s"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (host.encode(), port, auth_line(), len(body), body)
        )
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used_at = 0.0

    async def post_order(self) -> tuple[int, bytes]:
        try:
            reader, writer = await self._connection()
            writer.write(self._request)
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            return 0, type(exc).__name__.encode()
        self._used_at = time.monotonic()
        if close:
            await self.close()
        return int(head[9:12]), body

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The open connection, or a new one if the server closed it or may soon (uvicorn
        drops keep-alive connections idle for 5 s)."""
        stale = time.monotonic() - self._used_at > IDLE_REUSE_S
        if self._streams is not None and (stale or self._streams[0].at_eof()):
            await self.close()
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        return self._streams

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class LibHttp:
    """The same through httpx (one shared client per process)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def post_order(self) -> tuple[int, bytes]:
        import httpx

        headers = {"Content-Type": "application/json"}
        if os.environ.get(API_KEY_ENV):
            headers["Authorization"] = f"Bearer {os.environ[API_KEY_ENV]}"
        try:
            response = await self._client.post(
                "/api/orders/execute", content=order_body(), headers=headers
            )
        except httpx.HTTPError:
            return 0, b""
        return int(response.status_code), bytes(response.content)

    async def close(self) -> None:
        return None


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


async def _read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One whole message (continuation frames joined): (opcode, payload)."""
    opcode, parts = -1, []
    while True:
        b0, b1 = await reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if b1 & 0x80 else b""
        payload = await reader.readexactly(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if opcode == -1 or b0 & 0x0F:
            opcode = b0 & 0x0F
        parts.append(payload)
        if b0 & 0x80:
            return opcode, b"".join(parts)


async def stream_raw(host: str, port: int, path: str) -> tuple[list[Event], int, float]:
    """Every event until the close frame: (events, close code, monotonic time of the last)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % (path.encode(), host.encode(), port, key)
    )
    events: list[Event] = []
    code, last_at = 1006, 0.0
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        if head[9:12] != b"101" or accept not in head:
            return events, -int(head[9:12] or b"0"), last_at
        while True:
            opcode, payload = await _read_message(reader)
            if opcode == 1:
                events.append(orjson.loads(payload))
                last_at = time.monotonic()
            elif opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                writer.write(_masked_frame(8, payload[:2]))
                break
            elif opcode == 9:
                writer.write(_masked_frame(10, payload))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
    return events, code, last_at


async def stream_lib(host: str, port: int, path: str) -> tuple[list[Event], int, float]:
    from websockets.asyncio.client import connect

    events: list[Event] = []
    last_at = 0.0
    async with connect(f"ws://{host}:{port}{path}", compression=None) as ws:
        async for message in ws:
            events.append(orjson.loads(message))
            last_at = time.monotonic()
    return events, ws.close_code or 1005, last_at


class Phase:
    """One client process's share of a phase; `run` returns a JSON-able summary."""

    def __init__(self, job: ClientJob) -> None:
        self.job = job
        self.statuses: Counter[int] = Counter()
        self.latencies_ms: list[float] = []
        self.accept_ms: list[float] = []
        self.stage_ms: dict[str, list[int]] = {}  # by "from->to" status, server clock
        self.bad: list[str] = []
        self.market_failed: list[str] = []  # right lifecycles that failed on the market
        self.compute_units: list[int] = []  # per landed leg (chain venues)
        # legs executed exactly as quoted, legs comparable, legs that got more than quoted
        self.quote_exact = [0, 0, 0]
        self._left = job.orders

    def _take(self) -> bool:
        self._left -= 1
        return self._left >= 0

    async def _intake(self, http: OrderPoster) -> None:
        while self._take():
            status, _ = await http.post_order()
            self.statuses[status] += 1

    async def _e2e(self, http: OrderPoster) -> None:
        stream = stream_lib if self.job.lib else stream_raw
        while self._take():
            t0 = time.monotonic()
            status, body = await http.post_order()
            self.statuses[status] += 1
            if status != 201:
                self.bad.append(f"submit answered {status} {body[:80]!r}")
                continue
            self.accept_ms.append((time.monotonic() - t0) * 1000)
            answer = orjson.loads(body)
            path = "/" + answer["wsUrl"].split("/", 3)[3]
            try:
                events, code, last_at = await asyncio.wait_for(
                    stream(self.job.host, self.job.port, path), self.job.timeout_s
                )
            except Exception as exc:  # timeouts, resets, websockets' errors: a bad order
                self.bad.append(f"{answer['orderId']}: stream {type(exc).__name__}")
                continue
            problem = lifecycle_problem(answer["orderId"], events, code)
            if problem is not None:
                self.bad.append(f"{answer['orderId']}: {problem}")
            elif market_failure(events) is not None:
                self.market_failed.append(f"{answer['orderId']}:{reason(events)}")
            else:
                self.latencies_ms.append((last_at - t0) * 1000)
                self._stage_times(events)
                self._chain_stats(events)

    def _stage_times(self, events: list[Event]) -> None:
        """Time between consecutive events (their `tsMs`: the server's clock), by the pair
        of statuses, for where an order's latency goes (a retried order has more pairs)."""
        for before, after in itertools.pairwise(events):
            key = f"{before['status']}->{after['status']}"
            self.stage_ms.setdefault(key, []).append(after["tsMs"] - before["tsMs"])

    def _chain_stats(self, events: list[Event]) -> None:
        """Compute units of each leg, and whether it executed exactly the quoted amount
        (legs of the attempt whose route the `building` event shows)."""
        building, confirmed = events[2], events[-1]
        quoted = {
            (leg.get("venue"), leg.get("amountIn")): leg.get("amountOut")
            for leg in building.get("route", [])
        }
        for leg in confirmed.get("legs", []):
            if isinstance(leg.get("computeUnits"), int):
                self.compute_units.append(leg["computeUnits"])
            if leg.get("state") != "landed" or leg.get("attempt") != building.get("attempt"):
                continue
            expected = quoted.get((leg.get("dex"), leg.get("amountIn")))
            if expected is not None:
                got, promised = Decimal(leg["amountOut"]), Decimal(expected)
                self.quote_exact[0] += got == promised
                self.quote_exact[1] += 1
                self.quote_exact[2] += got > promised

    async def run(self, barrier: Barrier) -> dict[str, Any]:
        job, lib_client = self.job, None
        if job.lib:
            import httpx

            limits = httpx.Limits(max_connections=job.concurrency)
            lib_client = httpx.AsyncClient(
                base_url=f"http://{job.host}:{job.port}", limits=limits, timeout=job.timeout_s
            )
        posters: list[OrderPoster] = [
            LibHttp(lib_client) if lib_client else RawHttp(job.host, job.port)
            for _ in range(job.concurrency)
        ]
        work = self._intake if job.phase == "intake" else self._e2e
        barrier.wait()  # every client process starts together
        start, cpu0 = time.monotonic(), time.process_time()
        await asyncio.gather(*(work(p) for p in posters))
        end, cpu1 = time.monotonic(), time.process_time()
        for poster in posters:
            await poster.close()
        if lib_client is not None:
            await lib_client.aclose()
        return {
            "start": start,
            "end": end,
            "cpu_s": cpu1 - cpu0,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "latencies_ms": self.latencies_ms,
            "accept_ms": self.accept_ms,
            "stage_ms": self.stage_ms,
            "bad": self.bad,
            "market_failed": self.market_failed,
            "compute_units": self.compute_units,
            "quote_exact": self.quote_exact,
        }


def client_main(job: ClientJob, barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """Entry point of one client process."""
    import uvloop  # comes with uvicorn[standard]; a cheaper event loop for the client

    summary = uvloop.run(Phase(job).run(barrier))
    summary["vm_hwm_kib"] = vm_hwm_kib()
    results.put(summary)
