"""The per-socket stand-ins of `api.socket_parts`: keepalive timers on one loop timer."""

from __future__ import annotations

import asyncio

from order_engine.api.socket_parts import TICK_S, Messages, ticks_of


async def test_timers_fire_at_or_after_their_time_in_order_and_cancelled_ones_never() -> None:
    loop = asyncio.get_running_loop()
    ticks = ticks_of(loop)
    assert ticks_of(loop) is ticks  # one per loop
    fired: list[tuple[str, float]] = []
    start = loop.time()

    def record(name: str, due_s: float) -> None:
        ticks.call_later(due_s, lambda: fired.append((name, loop.time() - start)))

    record("late", 2 * TICK_S)
    record("early", 0.1)  # set after a later one: the loop timer is moved earlier
    ticks.call_later(0.2, lambda: fired.append(("cancelled", 0.0))).cancel()
    await asyncio.sleep(3 * TICK_S + 0.1)
    assert [name for name, _ in fired] == ["early", "late"]
    (_, early_s), (_, late_s) = fired
    assert 0.1 <= early_s < 0.1 + TICK_S + 0.05
    assert 2 * TICK_S <= late_s < 3 * TICK_S + 0.05


async def test_a_disconnect_calls_the_hook_once_and_received_messages_can_be_dropped() -> None:
    messages = Messages()
    gone: list[int] = []
    messages.on_disconnect = lambda: gone.append(1)
    messages.put_nowait({"type": "websocket.receive", "text": "hi"})
    assert not messages.drop_received()  # nothing but the client's message was waiting
    assert messages.empty()
    messages.put_nowait({"type": "websocket.disconnect", "code": 1000})
    messages.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert gone == [1]
    assert (await messages.get())["type"] == "websocket.disconnect"
