"""`BatchedWrites`: what one loop turn writes reaches the socket's transport as one write,
in order, at the end of the turn; closing sends it first; aborting drops it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from order_engine.api.batched_writes import BatchedWrites


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        assert not self.closing, "written after close"
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_one_turn_of_writes_leaves_as_one_write_in_order() -> None:
    raw = RecordingTransport()
    batched = BatchedWrites(raw)
    batched.write(b"HTTP/1.1 200 OK\r\n\r\n")
    batched.writelines([b"{", b"}"])
    batched.write(b"")
    assert raw.calls == [] and batched.get_write_buffer_size() == 7 + 21
    await next_turn()
    assert raw.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]
    batched.write(b"next")
    await next_turn()
    assert raw.calls[-1] == ("write", b"next") and len(raw.calls) == 2


async def test_close_sends_what_was_kept_first_and_abort_drops_it() -> None:
    raw = RecordingTransport()
    batched = BatchedWrites(raw)
    batched.write(b"last frame")
    batched.close()
    assert raw.calls == [("write", b"last frame"), ("close", None)]
    await next_turn()  # the scheduled send finds nothing left
    assert len(raw.calls) == 2

    raw = RecordingTransport()
    batched = BatchedWrites(raw)
    batched.write(b"never")
    batched.abort()
    await next_turn()
    assert raw.calls == [("abort", None)]


async def test_a_connection_gone_before_the_turn_ends_drops_the_bytes_quietly() -> None:
    raw = RecordingTransport()
    batched = BatchedWrites(raw)
    batched.write(b"late")
    raw.closing = True  # the peer went away: the transport closed itself
    await next_turn()
    assert raw.calls == []


def test_wrapping_is_done_once_and_the_rest_is_the_transports() -> None:
    raw = RecordingTransport()
    batched = BatchedWrites.around(raw)
    assert BatchedWrites.around(batched) is batched
    assert batched.get_extra_info("peername") == ("127.0.0.1", 5)
    assert not batched.is_closing()
    with pytest.raises(AttributeError):
        batched.unknown  # type: ignore[attr-defined]  # noqa: B018
