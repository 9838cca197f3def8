"""The engine as `order-engine serve` runs it (see `tests.e2e.harness`), in a thread with its
own event loop, for the browser tests (Playwright's sync API owns the test's thread). It
can stop and start again on the same port and data folder, as a restarted server would."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from order_engine.api.app import HotPaths
from order_engine.api.server import server_protocols
from order_engine.bootstrap import Engine, build_app
from order_engine.settings import Settings
from tests.e2e.harness import admin_key

T = TypeVar("T")
START_TIMEOUT_S = 30.0


@dataclass
class Served:
    app: HotPaths
    server: uvicorn.Server
    task: asyncio.Task[None]


class ServerThread:
    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        defaults: dict[str, Any] = {
            "venues": "sim",
            "market_interval_s": 0,
            "host": "127.0.0.1",
            "data_dir": tmp_path,
            "latency_scale": 0,
            "rng_seed": 7,
            "backoff_base_s": 0.01,
            "rate_limit_max": 0,
            "_env_file": None,
        }
        self.settings = Settings(**{**defaults, **overrides})
        self._sock = listening_socket_on(0)
        self.port = self.settings.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._served: Served | None = None

    @property
    def api_key(self) -> str:
        key = admin_key(self.settings)
        assert key is not None, "serve writes DATA_DIR/admin.key at its first start"
        return key

    @property
    def engine(self) -> Engine:
        assert self._served is not None
        engine: Engine = self._served.app.state.engine
        return engine

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run `coro` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(self) -> None:
        self.call(self._start(), START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop serving (the port is free until `start`); the data folder stays."""
        self.call(self._stop(), START_TIMEOUT_S)

    def close(self) -> None:
        if self._served is not None:
            self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self._sock.close()

    async def _start(self) -> None:
        if self._sock.fileno() == -1:  # stopped before: bind the same port again
            self._sock = listening_socket_on(self.port)
        app = build_app(self.settings, workers=True, command="serve")
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, **server_protocols()
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[self._sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        self._served = Served(app, server, task)

    async def _stop(self) -> None:
        served, self._served = self._served, None
        assert served is not None
        served.server.should_exit = True
        await served.task
        self._sock.close()


def listening_socket_on(port: int) -> socket.socket:
    """A listening socket on `port` (0: one the kernel picks), with SO_REUSEADDR on the first
    and every later one: a restart binds the same port again while the old server's
    connections still hold it (Linux shares a port only between sockets that all ask to).
    It listens at once, so no other SO_REUSEADDR socket can be handed the port meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
