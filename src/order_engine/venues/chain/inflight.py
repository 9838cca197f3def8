"""This process's own swaps on a venue's pools that are chosen or signed and not yet known
to have landed or failed (`InFlightSwaps`).

A pool read while they are on their way prices it as if they were not coming; a swap
quoted on that read and sent behind them then reverts on its minimum out when they land
first (measured: 2% of orders at 10 swaps in flight, 10% at 50, each costing a retry after
a backoff). A venue's curve therefore prices an amount as the pool will be after the swaps
ahead of it in the same direction, counted when the route is chosen (`ChainCurve`): so of
a burst of orders that read the pool together, each prices behind those chosen before it.

A swap counts from its route's choice (`expect`, keyed by order and direction) until its
confirmation ends, however it ends. A choice not signed within `chosen_ttl_s` (its attempt
stopped; the engine also `release`s it) is forgotten, a signed swap never sent after
`unsent_ttl_s`, a sent one after `sent_ttl_s` (its confirmation's own limit). Between
landing and its confirmation being read a swap is counted twice (the read includes it):
the quote is then lower than the pool's, and the minimum out looser, for that moment.
A pool read answered before a swap's landing was known is priced behind that swap even
once it is no longer in flight (`mark`, `ahead(since=...)`): the read cannot hold it if
it landed after the read, and a quote is often made a moment after its read (the
other pools', the other processes' totals): without this, such a quote missed the swap
and promised a little more than the pool then gave.
Swaps of other processes are not known here: `on_change` is told whenever the totals by
direction may have changed (a venue then publishes them on its `InFlightBoard`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

Direction = tuple[str, str]  # (token in, token out) symbols
LANDED_KEPT = 1_024  # the latest landings, for reads answered before them


@dataclass(slots=True)
class _Swap:
    direction: Direction
    amount_in: Decimal
    forget_at: float


def chosen_key(order_id: str, direction: Direction) -> str:
    return f"{order_id} {direction[0]}>{direction[1]}"


class InFlightSwaps:
    """The swaps and their totals by direction, kept as they change (a quote asks for
    them many times a second: no walk over the swaps per question)."""

    def __init__(
        self,
        *,
        chosen_ttl_s: float = 2.0,
        unsent_ttl_s: float = 10.0,
        sent_ttl_s: float = 120.0,
        now: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._chosen_ttl_s, self._unsent_ttl_s = chosen_ttl_s, unsent_ttl_s
        self._sent_ttl_s, self._now, self._on_change = sent_ttl_s, now, on_change
        self._swaps: dict[str, _Swap] = {}  # by signature, or `chosen_key` until signed
        self._totals: dict[Direction, Decimal] = {}
        self._next_forget = float("inf")  # no swap is forgotten before then
        self._landed: deque[tuple[int, Direction, Decimal]] = deque(maxlen=LANDED_KEPT)
        self._landings = 0  # how many landed so far (the `mark` of a read)

    def _put(self, key: str, swap: _Swap) -> None:
        self._drop(key)
        self._swaps[key] = swap
        self._totals[swap.direction] = self._totals.get(swap.direction, Decimal(0)) + swap.amount_in
        self._next_forget = min(self._next_forget, swap.forget_at)

    def _drop(self, key: str) -> bool:
        swap = self._swaps.pop(key, None)
        if swap is None:
            return False
        left = self._totals[swap.direction] - swap.amount_in
        if left:
            self._totals[swap.direction] = left
        else:
            del self._totals[swap.direction]
        return True

    def chosen(self, order_id: str, direction: Direction, amount_in: Decimal) -> None:
        forget_at = self._now() + self._chosen_ttl_s
        self._put(chosen_key(order_id, direction), _Swap(direction, amount_in, forget_at))
        self._on_change()

    def release(self, order_id: str) -> None:
        """The order's choices that were not signed: its attempt stopped before."""
        keys = [k for k in self._swaps if k.startswith(f"{order_id} ")]
        for key in keys:
            self._drop(key)
        if keys:
            self._on_change()

    def signed(
        self, signature: str, order_id: str, direction: Direction, amount_in: Decimal
    ) -> None:
        self._drop(chosen_key(order_id, direction))
        self._put(signature, _Swap(direction, amount_in, self._now() + self._unsent_ttl_s))
        self._on_change()  # the same total, unless its choice was forgotten meanwhile

    def sent(self, signature: str) -> None:
        swap = self._swaps.get(signature)
        if swap is not None:
            swap.forget_at = self._now() + self._sent_ttl_s  # later: the bound still holds

    def landed(self, signature: str) -> None:
        """It landed: from now on every read holds it (`done`); reads answered before now
        still price behind it (`ahead(since=...)`)."""
        swap = self._swaps.get(signature)
        if swap is not None:
            self._landings += 1
            self._landed.append((self._landings, swap.direction, swap.amount_in))
        self.done(signature)

    def mark(self) -> int:
        """Taken when a pool read is answered: the swaps that land after it are not in it."""
        return self._landings

    def done(self, signature: str) -> None:
        """Landed, reverted, expired or given up on: no longer ahead of anyone."""
        if self._drop(signature):
            self._on_change()

    def totals(self) -> dict[Direction, Decimal]:
        """The input in flight by direction."""
        self._forget_stale()
        return dict(self._totals)

    def _forget_stale(self) -> None:
        now = self._now()
        if now < self._next_forget:
            return
        stale = [s for s, swap in self._swaps.items() if swap.forget_at <= now]
        for key in stale:
            self._drop(key)
        self._next_forget = min((s.forget_at for s in self._swaps.values()), default=float("inf"))
        if stale:
            self._on_change()

    def ahead(
        self, direction: Direction, *, besides: str | None = None, since: int | None = None
    ) -> Decimal:
        """The input of the swaps in flight in `direction` (but the order `besides`'s), and
        of those that landed after the `mark` `since` (a read answered before them)."""
        self._forget_stale()
        total = self._totals.get(direction, Decimal(0))
        if since is not None:
            for seq, landed_direction, amount in reversed(self._landed):
                if seq <= since:
                    break
                if landed_direction == direction:
                    total += amount
        mine = None if besides is None else self._swaps.get(chosen_key(besides, direction))
        return total if mine is None else total - mine.amount_in

    def __len__(self) -> int:
        return len(self._swaps)
