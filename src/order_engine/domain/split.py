"""Splitting one swap across venues to maximise the total output (pure).

A venue is a callable from an input amount to the output it returns for it (after fees, rounded
down to the output token's decimals). For the pools the engine trades that output is concave and
increasing in the input, which is what makes a search cheaper than a grid.

Amounts are handled as whole quanta (the input token's smallest unit), so every allocation is a
multiple of `quantum` and the allocations of a plan sum exactly to the amount. A venue that raises
for an amount cannot take it: that allocation scores −∞ and is never chosen. A raise is assumed to
mean a capacity, i.e. the venue raises for every larger amount too. Allocating nothing to a venue
never calls it. Ties go to the earlier venue; every function here is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from itertools import accumulate, pairwise

from order_engine.domain.errors import NoQuotesError

OutFn = Callable[[Decimal], Decimal]

BPS = Decimal(10_000)
NEG_INF = Decimal("-Infinity")
_INV_PHI2 = (381_966_011, 1_000_000_000)  # 1/φ² = 2 − φ, as an integer ratio
GOLDEN_RESOLUTION = 1 << 14  # a two-venue search stops at 1/16,384 of the range


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """Per-venue input and output, in the order of the venue functions (zeros for unused)."""

    allocations: tuple[Decimal, ...]
    outputs: tuple[Decimal, ...]

    @property
    def total_out(self) -> Decimal:
        return sum(self.outputs, Decimal(0))

    @property
    def legs(self) -> int:
        """How many venues take part: each one is a transaction."""
        return sum(1 for a in self.allocations if a)


class _Venue:
    """One venue's output over whole quanta, memoised; a raise reads as −∞."""

    __slots__ = ("_fn", "_quantum", "_seen")

    def __init__(self, fn: OutFn, quantum: Decimal) -> None:
        self._fn = fn
        self._quantum = quantum
        self._seen: dict[int, Decimal] = {}

    def out(self, units: int) -> Decimal:
        if units == 0:
            return Decimal(0)
        value = self._seen.get(units)
        if value is None:
            try:
                value = self._fn(units * self._quantum)
            except Exception:  # the venue cannot take this amount
                value = NEG_INF
            self._seen[units] = value
        return value

    def capacity(self, limit: int) -> int:
        """The most quanta, up to `limit`, the venue takes (binary search over its raises)."""
        if self.out(limit) != NEG_INF:
            return limit
        ok, bad = 0, limit
        while bad - ok > 1:
            mid = (ok + bad) // 2
            if self.out(mid) == NEG_INF:
                bad = mid
            else:
                ok = mid
        return ok


def best_single(out_fns: Sequence[OutFn], amount: Decimal) -> SplitPlan:
    """The whole amount on the one venue that returns the most (ties: the earlier venue)."""
    if not out_fns:
        raise ValueError("no venues to route to")
    best, best_out = -1, NEG_INF
    for index, fn in enumerate(out_fns):
        try:
            out = fn(amount)
        except Exception:  # the venue cannot take the amount
            continue
        if out > best_out:
            best, best_out = index, out
    if best < 0:
        raise NoQuotesError(f"no venue can take {amount}")
    zero = Decimal(0)
    return SplitPlan(
        tuple(amount if i == best else zero for i in range(len(out_fns))),
        tuple(best_out if i == best else zero for i in range(len(out_fns))),
    )


def optimal_split(
    out_fns: Sequence[OutFn],
    amount: Decimal,
    *,
    quantum: Decimal,
    min_gain_bps: Decimal = Decimal("0"),
    min_leg_fraction: Decimal = Decimal("0.01"),
) -> SplitPlan:
    """The split with the most total output, or the best single venue when splitting is not
    worth it: a split must beat the single venue by more than `min_gain_bps` of its output, and
    no leg may be smaller than `min_leg_fraction` of the amount (unless it is needed to fill).

    Two venues: golden-section search over the first venue's share, plus both endpoints.
    More venues: greedy marginal-rate equalisation with a step that halves each round
    (proximity scaling), which needs O(N² · log(amount/quantum)) evaluations.
    """
    units = _units(amount, quantum, out_fns)
    venues = [_Venue(fn, quantum) for fn in out_fns]
    split = _split_without_dust(venues, units, amount * min_leg_fraction / quantum)
    single = _best_single_units(venues, units)
    if split is not None and (single is None or _worth_it(venues, split, single, min_gain_bps)):
        return _plan(venues, split, quantum)
    if single is None:
        raise NoQuotesError(f"no venue or split of venues can take {amount}")
    return _plan(venues, single, quantum)


def brute_force_split(
    out_fns: Sequence[OutFn], amount: Decimal, *, steps: int, quantum: Decimal
) -> SplitPlan:
    """The best of every split whose shares are multiples of 1/`steps` (the reference for tests
    and benchmarks): i/steps for two venues, all i + j + k = steps for three, and so on."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    units = _units(amount, quantum, out_fns)
    venues = [_Venue(fn, quantum) for fn in out_fns]
    best: list[int] | None = None
    best_total = NEG_INF
    for shares in _compositions(steps, len(venues)):
        alloc = _grid_allocation(shares, steps, units)
        total = _total(venues, alloc)
        if total > best_total:
            best, best_total = alloc, total
    if best is None:
        raise NoQuotesError(f"no split of venues can take {amount}")
    return _plan(venues, best, quantum)


def _units(amount: Decimal, quantum: Decimal, out_fns: Sequence[OutFn]) -> int:
    if not out_fns:
        raise ValueError("no venues to route to")
    if quantum <= 0 or amount <= 0:
        raise ValueError("amount and quantum must be positive")
    whole, rest = divmod(amount, quantum)
    if rest:
        raise ValueError(f"amount {amount} is not a multiple of the quantum {quantum}")
    return int(whole)


def _split_without_dust(venues: list[_Venue], units: int, min_units: Decimal) -> list[int] | None:
    """Solve; while a leg is dust (under `min_units`), try both ways out of it: drop the
    smallest dust leg and solve among the rest, or raise it to the minimum and solve the rest
    (the total is concave, so the best allowed size of that leg is the minimum). Keep the
    best clean allocation; a leg the remaining venues cannot do without is kept."""
    floor = int(min_units.to_integral_value(rounding=ROUND_CEILING))
    active = list(range(len(venues)))
    clean: list[list[int]] = []
    last: list[int] | None = None
    while active:
        full = _solve_among(venues, active, units)
        if full is None:
            break
        last = full
        dust = [i for i in active if 0 < full[i] < min_units]
        if not dust:
            clean.append(full)
            break
        drop = min(dust, key=lambda i: (full[i], -i))  # the smallest; on a tie the later venue
        raised = _raised(venues, active, drop, floor, units, min_units)
        if raised is not None:
            clean.append(raised)
        active = [i for i in active if full[i] and i != drop]
    if not clean:
        return last
    return max(clean, key=lambda a: (_total(venues, a), -sum(1 for x in a if x)))


def _solve_among(venues: list[_Venue], active: list[int], units: int) -> list[int] | None:
    """`_solve` over the venues at `active`, as a full-length allocation."""
    alloc = _solve([venues[i] for i in active], units)
    if alloc is None:
        return None
    full = [0] * len(venues)
    for index, share in zip(active, alloc, strict=True):
        full[index] = share
    return full


def _raised(
    venues: list[_Venue], active: list[int], leg: int, floor: int, units: int, min_units: Decimal
) -> list[int] | None:
    """`leg` at exactly the minimum size, the rest split among the other active venues."""
    others = [i for i in active if i != leg]
    if not others or floor >= units:
        return None
    alloc = _solve_among(venues, others, units - floor)
    if alloc is None or any(0 < alloc[i] < min_units for i in others):
        return None
    alloc[leg] = floor
    return alloc if _total(venues, alloc) != NEG_INF else None


def _solve(venues: list[_Venue], units: int) -> list[int] | None:
    if len(venues) == 1:
        alloc: list[int] | None = [units]
    elif len(venues) == 2:
        alloc = _split_two(venues[0], venues[1], units)
    else:
        alloc = _split_many(venues, units)
    if alloc is None or _total(venues, alloc) == NEG_INF:
        return None
    return alloc


def _split_two(first: _Venue, second: _Venue, units: int) -> list[int] | None:
    """Golden-section search over the first venue's share, within what both venues take."""
    low, high = max(0, units - second.capacity(units)), first.capacity(units)
    if low > high:
        return None

    def total(share: int) -> Decimal:
        return first.out(share) + second.out(units - share)

    share = max((_golden_max(total, low, high), high, low), key=total)  # ties: the search
    return [share, units - share]


def _golden_max(f: Callable[[int], Decimal], low: int, high: int) -> int:
    """An integer maximising a concave `f` on [low, high] to within 1/`GOLDEN_RESOLUTION`
    of the range (exactly, on ranges that small); ties favour the larger one. Near its
    maximum a concave output is flat: a share that far off costs a negligible fraction of
    a bps, and stopping there saves ~half the quotes of a search to the last base unit."""
    a, b = low, high
    tolerance = max(3, (b - a) // GOLDEN_RESOLUTION)
    c, d = _probes(a, b)
    while b - a > tolerance:
        if f(c) > f(d):  # the maximum lies in [a, d]
            b, d = d, c
            c = a + b - d
        else:  # in [c, b]
            a, c = c, d
            d = a + b - c
        if not a < c < d < b:  # integer rounding drifted the probes: place them afresh
            c, d = _probes(a, b)
    if b - a > 3:
        return max((b, d, c, a), key=f)
    return max(range(b, a - 1, -1), key=f)


def _probes(a: int, b: int) -> tuple[int, int]:
    c = a + (b - a) * _INV_PHI2[0] // _INV_PHI2[1]
    return c, a + b - c


def _split_many(venues: list[_Venue], units: int) -> list[int] | None:
    """Greedy by marginal gain with a halving step. The optimum lies within (N−1)·step below
    the greedy result at each step, so that becomes the floor of the next, finer round."""
    count = len(venues)
    floor = [0] * count
    step = max(1, units // (2 * count))
    while True:
        alloc, left = _greedy(venues, floor, units - sum(floor), step)
        if step == 1:
            return alloc if left == 0 else None
        margin = (count - 1) * step
        floor = [max(lo, x - margin) for lo, x in zip(floor, alloc, strict=True)]
        step //= 2


def _greedy(venues: list[_Venue], start: list[int], left: int, step: int) -> tuple[list[int], int]:
    """Hand out `left` in `step`s, each to the venue that gains the most from it."""
    alloc = list(start)
    while left >= step:
        gains = [_gain(v, x, step) for v, x in zip(venues, alloc, strict=True)]
        best = max(range(len(gains)), key=gains.__getitem__)  # ties: the earlier venue
        if gains[best] == NEG_INF:
            break
        alloc[best] += step
        left -= step
    return alloc, left


def _gain(venue: _Venue, units: int, step: int) -> Decimal:
    after = venue.out(units + step)
    before = venue.out(units)
    if after.is_infinite() or before.is_infinite():
        return NEG_INF
    return after - before


def _best_single_units(venues: list[_Venue], units: int) -> list[int] | None:
    outs = [v.out(units) for v in venues]
    best = max(range(len(outs)), key=outs.__getitem__)  # ties: the earlier venue
    if outs[best] == NEG_INF:
        return None
    return [units if i == best else 0 for i in range(len(venues))]


def _worth_it(venues: list[_Venue], split: list[int], single: list[int], bps: Decimal) -> bool:
    """A split earns its extra transactions only by beating the single venue by over `bps`."""
    split_out, single_out = _total(venues, split), _total(venues, single)
    return sum(1 for x in split if x) > 1 and split_out > single_out + single_out * bps / BPS


def _total(venues: list[_Venue], alloc: list[int]) -> Decimal:
    return sum((v.out(x) for v, x in zip(venues, alloc, strict=True)), Decimal(0))


def _plan(venues: list[_Venue], alloc: list[int], quantum: Decimal) -> SplitPlan:
    return SplitPlan(
        tuple(x * quantum for x in alloc),
        tuple(v.out(x) for v, x in zip(venues, alloc, strict=True)),
    )


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to write `total` as `parts` ordered non-negative terms, the first term
    descending (so that on a tie the earlier venue holds the larger share)."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def _grid_allocation(shares: tuple[int, ...], steps: int, units: int) -> list[int]:
    """Quanta per venue for grid `shares` (of `steps`), cut at rounded-down cumulative marks."""
    marks = [0, *(units * running // steps for running in accumulate(shares))]
    return [hi - lo for lo, hi in pairwise(marks)]
