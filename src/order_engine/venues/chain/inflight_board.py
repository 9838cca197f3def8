"""The swaps in flight of the other processes that trade the same pools (`InFlightBoard`).

A process prices a pool behind its own swaps in flight (`InFlightSwaps`). Several worker
processes on one chain each send swaps the others do not know of: a swap quoted in one
lands behind the others' and reverts on its minimum out, or finds a DLMM pair's side
emptied (measured: 2 workers x 50 slots at 100 SOL an order). So each process publishes
its totals in flight per pool direction on a board all of them share, and a pool is
priced behind its own swaps and the others' totals.

The board is a hint for pricing, never a reason for an order to fail: a board that cannot
be reached counts nobody else. Totals are published as they change (the latest wins: at
most one send on its way); the others' are read at most `max_age_s` before a pool is
priced, together with the pool's own read. A process's totals older than `stale_s`
(a process gone without clearing them, or one whose swaps stayed unchanged that long)
count for nobody.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator, Mapping
from decimal import Decimal
from typing import Any, Protocol

Direction = tuple[str, str]  # (token in, token out) symbols


def board_key(venue: str, direction: Direction) -> str:
    """`venue`'s pool traded in `direction`: "meteora SOL>USDC"."""
    return f"{venue} {direction[0]}>{direction[1]}"


def with_venue(
    mine: Mapping[str, Decimal], venue: str, totals: Mapping[Direction, Decimal]
) -> dict[str, Decimal]:
    """A process's totals `mine` with `venue`'s replaced by `totals` (zeros left out)."""
    prefix = f"{venue} "
    kept = {key: amount for key, amount in mine.items() if not key.startswith(prefix)}
    kept.update({board_key(venue, d): amount for d, amount in totals.items() if amount})
    return kept


class InFlightBoard(Protocol):
    def publish(self, venue: str, totals: Mapping[Direction, Decimal]) -> None:
        """This process's swaps in flight on `venue` now, by direction (replacing what it
        published for `venue` before); sent in the background."""
        ...

    def fresh(self) -> Awaitable[None]:
        """Done once the others' totals were read at most `max_age_s` ago: starts a read
        when they are older (await it after the pool's own read: both travel together).
        Never raises."""
        ...

    def others(self, key: str) -> Decimal:
        """The other processes' total in flight for `key` (`board_key`), as last read."""
        ...

    async def close(self) -> None:
        """Clear this process's totals from the board and stop."""
        ...


class Done:
    """An awaitable that is done at once (a board with nothing to wait for)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return (yield from ())


DONE = Done()


class LocalInFlightBoard:
    """Processes of one Python process, sharing `shared` (embedded mode: `serve` is the
    only process, so it counts nobody else; tests: several boards on one dict stand for
    several processes)."""

    def __init__(self, shared: dict[int, dict[str, Decimal]] | None = None) -> None:
        self._shared = {} if shared is None else shared
        self._mine: dict[str, Decimal] = {}
        self._shared[id(self)] = self._mine

    def publish(self, venue: str, totals: Mapping[Direction, Decimal]) -> None:
        self._mine = self._shared[id(self)] = with_venue(self._mine, venue, totals)

    def fresh(self) -> Awaitable[None]:
        return DONE

    def others(self, key: str) -> Decimal:
        return sum(
            (mine.get(key, Decimal(0)) for pid, mine in self._shared.items() if pid != id(self)),
            Decimal(0),
        )

    async def close(self) -> None:
        self._shared.pop(id(self), None)
