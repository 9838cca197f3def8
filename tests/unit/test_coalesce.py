"""`Coalescer`: submissions made while a batch is out go together in the next one."""

from __future__ import annotations

import asyncio

import pytest

from order_engine.adapters.coalesce import Coalescer


async def test_items_wait_for_the_batch_in_flight_and_keep_their_order() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def send(batch: list[int]) -> None:
        batches.append(batch)
        if len(batches) == 1:
            await gate.wait()

    coalescer = Coalescer(send, max_batch=3, name="test")
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(coalescer.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert batches == [[0]]  # the rest wait for it
    gate.set()
    await asyncio.gather(first, *later)
    assert batches == [[0], [1, 2, 3], [4, 5]]  # cut at max_batch, in order


async def test_a_failed_batch_fails_its_own_callers_only() -> None:
    async def send(batch: list[str]) -> None:
        if "bad" in batch:
            raise ConnectionError("down")

    coalescer = Coalescer(send, max_batch=2, name="test")
    results = await asyncio.gather(
        *(coalescer.submit(i) for i in ("a", "bad", "c", "d")), return_exceptions=True
    )
    assert isinstance(results[0], ConnectionError) and isinstance(results[1], ConnectionError)
    assert results[2:] == [None, None]
    await coalescer.submit("e")  # and it goes on
    with pytest.raises(ConnectionError):
        await coalescer.submit("bad")
