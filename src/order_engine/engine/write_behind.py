"""An order's status write that nothing after it needs durable first (`routing`,
`building`: not the write-ahead record of a signature) goes to the store while the work
that follows it runs (reading quotes, checking funds, signing), instead of before it: the
order's step costs the longer of the two, not their sum."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def alongside(write: Awaitable[None], work: Awaitable[T]) -> T:
    """`work`'s result, once `write` is done too. `work` must not change the order `write`
    writes. `write` is awaited whatever happens, so the order's next write follows it; if
    it fails, its error is raised (e.g. a cancel won the race: what `work` found no longer
    counts), else `work`'s."""
    writing = asyncio.ensure_future(write)
    try:
        result = await work
    except BaseException:
        await writing  # its error, if any, wins (chained to `work`'s)
        raise
    await writing
    return result
