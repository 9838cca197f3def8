"""A socket transport that sends what one turn of the event loop wrote in one write.

uvicorn writes an HTTP response's head and body with two `transport.write` calls, and a
WebSocket's handshake answer, its first frames, and an order's last event and the close
frame after it, each with its own; every one is a system call and, with TCP_NODELAY, a
packet of its own. `BatchedWrites` keeps what is written during one turn of the loop and
hands it to the socket's transport at the end of that turn (`call_soon`), in order, as one
write: the same bytes, sent a few microseconds later, in fewer calls. Closing sends what is
kept first; aborting drops it, as an abort drops the transport's own buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast


class BatchedWrites(asyncio.Transport):
    """`transport` with its writes of one loop turn sent together."""

    __slots__ = ("_kept", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._kept: list[bytes] = []

    @classmethod
    def around(cls, transport: asyncio.BaseTransport) -> asyncio.Transport:
        """`transport` wrapped once (an upgrade to WebSocket passes on the wrapper)."""
        if isinstance(transport, BatchedWrites):
            return transport
        return cls(cast(asyncio.Transport, transport))  # uvloop's is not a subclass

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._kept:
            asyncio.get_running_loop().call_soon(self._send)
        self._kept.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _send(self) -> None:
        kept, self._kept = self._kept, []
        if kept and not self._transport.is_closing():  # else the connection is gone
            self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def abort(self) -> None:
        self._kept.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self._send()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._kept))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)
