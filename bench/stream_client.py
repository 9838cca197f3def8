"""Client processes of the stream benchmark (`bench.bench_streams`), on raw asyncio sockets
so that the server is what gets measured.

A holder process posts long-waiting limit orders, then opens (and holds, idle) one
WebSocket per order when told to, and at the end reports every stream that closed early.
A prober process posts market orders at a fixed rate, follows each on its WebSocket and
records, for every event, the client's wall-clock receive time minus the event's `tsMs`
(the engine's clock when it made the event: same machine, same clock)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.client import WS_GUID, RawHttp, _masked_frame, _read_message
from bench.lifecycles import lifecycle_problem

# never fills: a million USDC per SOL
LIMIT_BODY = (
    b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"1","type":"limit",'
    b'"limitPrice":"1000000","timeInForceSeconds":86400}'
)
POST_CONNECTIONS = 16
PROBE_TIMEOUT_S = 120.0  # after the last order was sent


async def open_ws(
    host: str, port: int, path: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket after its handshake (raises OSError when refused)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % (path.encode(), host.encode(), port, key)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    if head[9:12] != b"101" or accept not in head:
        writer.close()
        raise OSError(f"handshake answered {head[:12]!r}")
    return reader, writer


def _ws_path(answer: bytes) -> tuple[str, str]:
    body = orjson.loads(answer)
    return body["orderId"], "/" + body["wsUrl"].split("/", 3)[3]


@dataclass
class Holder:
    """Idle streams of waiting limit orders."""

    host: str
    port: int
    paths: list[tuple[str, str]] = field(default_factory=list)
    held: list[asyncio.Task[str | None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    closing: bool = False

    async def post(self, count: int) -> dict[str, Any]:
        left = [count]

        async def poster() -> None:
            http = RawHttp(self.host, self.port, LIMIT_BODY)
            while left[0] > 0:
                left[0] -= 1
                status, body = await http.post_order()
                if status == 201:
                    self.paths.append(_ws_path(body))
                else:
                    self.errors.append(f"limit order answered {status} {body[:80]!r}")
            await http.close()

        await asyncio.gather(*(poster() for _ in range(POST_CONNECTIONS)))
        return {"posted": len(self.paths), "errors": self.errors[:5]}

    async def open(self, total: int) -> dict[str, Any]:
        """Open streams until `total` are held; each has had its first event."""
        want = self.paths[len(self.held) : total]
        gate = asyncio.Semaphore(64)

        async def one(order_id: str, path: str) -> None:
            async with gate:
                try:
                    reader, writer = await open_ws(self.host, self.port, path)
                    opcode, payload = await _read_message(reader)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    self.errors.append(f"{order_id}: open {exc!r}")
                    return
                if opcode != 1 or orjson.loads(payload).get("seq") != 1:
                    self.errors.append(f"{order_id}: first frame {opcode} {payload[:60]!r}")
                self.writers.append(writer)
                self.held.append(asyncio.create_task(self._hold(order_id, reader, writer)))

        await asyncio.gather(*(one(o, p) for o, p in want))
        return {"held": len(self.held), "errors": self.errors[:5], "error_count": len(self.errors)}

    async def _hold(
        self, order_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str | None:
        """Read whatever comes (a `waiting` event, pings: answered) until the bench closes:
        a close frame or EOF before that is a stream that ended early."""
        try:
            while True:
                opcode, payload = await _read_message(reader)
                if opcode == 9:
                    writer.write(_masked_frame(10, payload))
                elif opcode == 8 and not self.closing:
                    return f"{order_id}: closed early {payload[:40]!r}"
        except (OSError, asyncio.IncompleteReadError):
            return None if self.closing else f"{order_id}: connection lost"

    async def close(self) -> dict[str, Any]:
        self.closing = True
        early = [t.result() for t in self.held if t.done() and t.result()]
        for task in self.held:
            task.cancel()
        for writer in self.writers:
            writer.write(_masked_frame(8, b"\x03\xe8"))
            writer.close()
        await asyncio.sleep(0.5)
        return {"ended_early": len(early), "examples": early[:5]}


async def _probe_one(host: str, port: int, latencies: list[float], bad: list[str]) -> None:
    http = RawHttp(host, port)
    status, body = await http.post_order()
    await http.close()
    if status != 201:
        bad.append(f"market order answered {status}")
        return
    order_id, path = _ws_path(body)
    events: list[dict[str, Any]] = []
    code = 1006
    try:
        reader, writer = await open_ws(host, port, path)
        while True:
            opcode, payload = await _read_message(reader)
            if opcode == 1:
                event = orjson.loads(payload)
                events.append(event)
                if event["seq"] > 1:  # the first comes in the replay, after the POST
                    latencies.append(time.time() * 1000 - event["tsMs"])
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                writer.write(_masked_frame(8, payload[:2]))
                writer.close()
                break
    except (OSError, asyncio.IncompleteReadError) as exc:
        bad.append(f"{order_id}: {exc!r}")
        return
    problem = lifecycle_problem(order_id, events, code)
    if problem is not None:
        bad.append(f"{order_id}: {problem}")


async def probe(host: str, port: int, orders: int, rate: float) -> dict[str, Any]:
    """`orders` market orders at `rate` per second, each followed to its close."""
    latencies: list[float] = []
    bad: list[str] = []
    tasks = []
    start = time.monotonic()
    for i in range(orders):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(_probe_one(host, port, latencies, bad)))
    _, unfinished = await asyncio.wait(tasks, timeout=PROBE_TIMEOUT_S)
    for task in unfinished:
        task.cancel()
        bad.append(f"an order's stream did not end within {PROBE_TIMEOUT_S:.0f} s")
    return {"latencies_ms": latencies, "bad": bad, "wall_s": time.monotonic() - start}


async def _serve(conn: Connection, host: str, port: int) -> None:
    holder = Holder(host, port)
    loop = asyncio.get_running_loop()
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "post":
            conn.send(await holder.post(arg))
        elif command == "open":
            conn.send(await holder.open(arg))
        elif command == "probe":
            conn.send(await probe(host, port, *arg))
        elif command == "close":
            conn.send(await holder.close())
            return


def stream_client_main(conn: Connection, host: str, port: int) -> None:
    """Entry point of one client process: commands from `conn` until `close`."""
    import uvloop  # a cheaper event loop for the client

    uvloop.run(_serve(conn, host, port))
