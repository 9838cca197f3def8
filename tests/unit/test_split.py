"""Splitting a swap across venues: the optimiser against the single best venue and a grid."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

import pytest

from order_engine.domain.errors import NoQuotesError
from order_engine.domain.split import (
    SplitPlan,
    best_single,
    brute_force_split,
    optimal_split,
)

D = Decimal
OutFn = Callable[[Decimal], Decimal]
NANO = D("0.000000001")  # SOL's quantum
USDC_UNIT = D("0.000001")


def pool(reserve_in: str, reserve_out: str, fee: str, *, cap: str | None = None) -> OutFn:
    """A constant-product pool SOL -> USDC; raises above `cap` like a venue out of liquidity."""
    x_res, y_res, keep = D(reserve_in), D(reserve_out), 1 - D(fee)
    limit = None if cap is None else D(cap)

    def out(amount: Decimal) -> Decimal:
        if limit is not None and amount > limit:
            raise ValueError(f"{amount} exceeds what the pool takes")
        net = amount * keep
        return (y_res * net / (x_res + net)).quantize(USDC_UNIT, rounding=ROUND_DOWN)

    return out


class Counted:
    """Wraps a venue function and counts its calls."""

    def __init__(self, fn: OutFn) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, amount: Decimal) -> Decimal:
        self.calls += 1
        return self.fn(amount)


RAYDIUM = pool("1000", "150000", "0.003")
METEORA = pool("1000", "150000", "0.0025")  # same depth, lower fee
ORCA = pool("400", "60200", "0.003")  # shallower, a slightly better price
WORSE = pool("1000", "149250", "0.003")  # 0.5% below RAYDIUM
DEEP = pool("1200", "180000", "0.003")  # RAYDIUM's price, 20% deeper

TWO_VENUE_SETS = {
    "identical": (RAYDIUM, RAYDIUM),
    "fees": (RAYDIUM, METEORA),
    "depths": (ORCA, RAYDIUM),
    "prices": (RAYDIUM, WORSE),
}
SIZES = ["0.1", "1", "5", "10", "25", "50", "100", "200"]  # 0.01% … 20% of 1000 SOL depth


def assert_well_formed(plan: SplitPlan, amount: Decimal, quantum: Decimal, venues: int) -> None:
    assert len(plan.allocations) == len(plan.outputs) == venues
    assert sum(plan.allocations, D(0)) == amount
    assert all(a >= 0 and a % quantum == 0 for a in plan.allocations)
    assert all(o == 0 for a, o in zip(plan.allocations, plan.outputs, strict=True) if a == 0)
    assert plan.legs == sum(1 for a in plan.allocations if a != 0)


def test_identical_pools_split_evenly_and_beat_a_single_venue() -> None:
    amount = D("20")
    plan = optimal_split([RAYDIUM, RAYDIUM], amount, quantum=NANO)
    single = best_single([RAYDIUM, RAYDIUM], amount)
    assert plan.legs == 2
    assert all(abs(a - amount / 2) <= amount / 1000 for a in plan.allocations)
    assert plan.total_out > single.total_out
    assert plan.total_out >= 2 * RAYDIUM(amount / 2)  # as good as the exact halves
    assert_well_formed(plan, amount, NANO, 2)


def test_a_tiny_order_is_not_split_and_takes_the_better_venue() -> None:
    amount = D("0.1")  # 0.01% of the depth
    plan = optimal_split([RAYDIUM, METEORA], amount, quantum=NANO, min_gain_bps=D(1))
    assert plan == best_single([RAYDIUM, METEORA], amount)
    assert plan.allocations == (D(0), amount)  # METEORA's lower fee wins
    assert plan.legs == 1


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(TWO_VENUE_SETS))
def test_two_venues_match_a_fine_grid_and_never_lose_to_one_venue(name: str, size: str) -> None:
    fns, amount = TWO_VENUE_SETS[name], D(size)
    grid = brute_force_split(fns, amount, steps=1000, quantum=NANO)
    single = best_single(fns, amount)
    exact = optimal_split(fns, amount, quantum=NANO, min_leg_fraction=D(0))
    default = optimal_split(fns, amount, quantum=NANO)
    for plan in (exact, default):
        assert plan.total_out >= single.total_out
        assert_well_formed(plan, amount, NANO, 2)
    assert exact.total_out >= grid.total_out * (1 - D("0.00001"))
    assert default.total_out >= grid.total_out * (1 - D("0.001"))
    assert_well_formed(grid, amount, NANO, 2)


@pytest.mark.parametrize("size", ["0.1", "5", "20", "50", "100", "200"])
def test_three_venues_match_a_grid_with_few_evaluations(size: str) -> None:
    counted = [Counted(RAYDIUM), Counted(ORCA), Counted(METEORA)]
    amount = D(size)
    plan = optimal_split(counted, amount, quantum=NANO, min_leg_fraction=D(0))
    calls = sum(c.calls for c in counted)
    grid = brute_force_split(counted, amount, steps=200, quantum=NANO)
    assert calls < 2000
    assert plan.total_out >= grid.total_out * (1 - D("0.00001"))
    assert plan.total_out >= best_single(counted, amount).total_out
    assert_well_formed(plan, amount, NANO, 3)


def test_three_identical_venues_share_equally() -> None:
    plan = optimal_split([RAYDIUM] * 3, D("90"), quantum=NANO)
    assert plan.legs == 3
    assert all(abs(a - 30) <= D("0.1") for a in plan.allocations)


def test_evaluations_stay_few_for_a_huge_amount() -> None:
    fns = [Counted(pool("1e9", "1.5e11", fee)) for fee in ("0.003", "0.0025", "0.001")]
    amount = D("100000000.123456789")  # 1e17 quanta
    plan = optimal_split(fns, amount, quantum=NANO)
    assert plan.legs == 3
    assert sum(c.calls for c in fns) < 2000
    assert_well_formed(plan, amount, NANO, 3)


@pytest.mark.parametrize("venues", [2, 3])
def test_a_capped_venue_never_gets_more_than_its_cap(venues: int) -> None:
    capped = Counted(pool("1000", "151000", "0.002", cap="4"))  # the best price, but only 4 SOL
    all_fns: list[OutFn] = [capped, RAYDIUM, ORCA]
    fns = all_fns[:venues]
    amount = D("30")
    plan = optimal_split(fns, amount, quantum=NANO)
    grid = brute_force_split(fns, amount, steps=200, quantum=NANO)
    assert D(3) < plan.allocations[0] <= D(4)
    assert plan.total_out >= grid.total_out
    assert_well_formed(plan, amount, NANO, venues)


def test_venues_too_small_alone_are_filled_together() -> None:
    fns = [pool("1000", "150000", "0.003", cap="6"), pool("1000", "150000", "0.003", cap="5")]
    plan = optimal_split(fns, D("10"), quantum=NANO, min_gain_bps=D(100))
    assert plan.allocations[0] <= 6 and plan.allocations[1] <= 5
    assert_well_formed(plan, D("10"), NANO, 2)
    with pytest.raises(NoQuotesError):
        best_single(fns, D("10"))
    with pytest.raises(NoQuotesError):
        optimal_split(fns, D("12"), quantum=NANO)


def test_a_venue_that_always_raises_is_ignored() -> None:
    def broken(amount: Decimal) -> Decimal:
        raise RuntimeError("venue down")

    plan = optimal_split([broken, RAYDIUM, RAYDIUM], D("20"), quantum=NANO)
    assert plan.allocations[0] == 0 and plan.legs == 2
    with pytest.raises(NoQuotesError):
        optimal_split([broken, broken], D("20"), quantum=NANO)


@pytest.mark.parametrize(
    ("amount", "quantum"),
    [("123.456789123", NANO), ("7.000000001", NANO), ("0.000000003", NANO), ("999.123457", "1E-6")],
)
@pytest.mark.parametrize("venues", [2, 3])
def test_allocations_sum_exactly_to_the_amount_in_whole_quanta(
    amount: str, quantum: Decimal | str, venues: int
) -> None:
    fns = [RAYDIUM, ORCA, METEORA][:venues]
    q = D(quantum)
    for min_leg in (D(0), D("0.01")):
        plan = optimal_split(fns, D(amount), quantum=q, min_leg_fraction=min_leg)
        assert_well_formed(plan, D(amount), q, venues)
    assert_well_formed(brute_force_split(fns, D(amount), steps=7, quantum=q), D(amount), q, venues)


def test_a_dust_leg_is_dropped_for_two_venues() -> None:
    amount = D("2.53")  # WORSE only pays for a sliver of the order
    exact = optimal_split([RAYDIUM, WORSE], amount, quantum=NANO, min_leg_fraction=D(0))
    assert exact.legs == 2 and 0 < exact.allocations[1] < amount / 100
    plan = optimal_split([RAYDIUM, WORSE], amount, quantum=NANO)
    assert plan.allocations == (amount, D(0))
    assert plan.total_out < exact.total_out


def test_a_leg_worth_having_is_raised_to_the_minimum_instead_of_dropped() -> None:
    """The optimum gives WORSE 18.5% of 4; with a 25% minimum leg, a leg of exactly 25%
    still beats RAYDIUM alone (the total is concave), so that is the plan, not dropping it."""
    amount = D("4")
    exact = optimal_split([RAYDIUM, WORSE], amount, quantum=NANO, min_leg_fraction=D(0))
    assert exact.legs == 2 and D("0.18") < exact.allocations[1] / amount < D("0.19")
    plan = optimal_split([RAYDIUM, WORSE], amount, quantum=NANO, min_leg_fraction=D("0.25"))
    assert plan.allocations == (D(3), D(1))
    assert best_single([RAYDIUM, WORSE], amount).total_out < plan.total_out < exact.total_out


def test_a_dust_leg_is_dropped_and_the_rest_split_again() -> None:
    amount = D("5.6")
    fns = [RAYDIUM, DEEP, WORSE]
    exact = optimal_split(fns, amount, quantum=NANO, min_leg_fraction=D(0))
    assert exact.legs == 3 and 0 < exact.allocations[2] < amount / 100
    plan = optimal_split(fns, amount, quantum=NANO)
    assert plan.legs == 2 and plan.allocations[2] == 0
    assert plan.allocations[0] > exact.allocations[0] and plan.allocations[1] > exact.allocations[1]
    assert plan.total_out >= optimal_split(fns[:2], amount, quantum=NANO).total_out


def test_a_split_must_beat_the_single_venue_by_more_than_min_gain_bps() -> None:
    amount = D("10")
    split = optimal_split([RAYDIUM, WORSE], amount, quantum=NANO)
    single = best_single([RAYDIUM, WORSE], amount)
    gain_bps = (split.total_out - single.total_out) / single.total_out * 10_000
    assert split.legs == 2 and gain_bps > 0
    below = optimal_split(
        [RAYDIUM, WORSE], amount, quantum=NANO, min_gain_bps=gain_bps * D("0.999")
    )
    above = optimal_split(
        [RAYDIUM, WORSE], amount, quantum=NANO, min_gain_bps=gain_bps * D("1.001")
    )
    assert below == split
    assert above == single


def test_ties_go_to_the_earlier_venue_and_results_repeat() -> None:
    tiny = D("0.000001")
    assert best_single([RAYDIUM, RAYDIUM], D("5")).allocations == (D("5"), D(0))
    plan = optimal_split([RAYDIUM, RAYDIUM], tiny, quantum=NANO)
    assert plan.allocations == (tiny, D(0))
    assert (
        brute_force_split([RAYDIUM, RAYDIUM], tiny, steps=10, quantum=NANO).allocations[0] == tiny
    )
    fns = [RAYDIUM, ORCA, METEORA]
    first = optimal_split(fns, D("37.5"), quantum=NANO)
    assert all(optimal_split(fns, D("37.5"), quantum=NANO) == first for _ in range(3))


def test_brute_force_walks_the_grid() -> None:
    plan = brute_force_split([RAYDIUM, RAYDIUM], D("20"), steps=4, quantum=NANO)
    assert plan.allocations == (D("10"), D("10"))
    plan = brute_force_split([RAYDIUM, WORSE], D("1"), steps=4, quantum=NANO)
    assert plan.allocations == (D("1"), D(0))
    three = brute_force_split([RAYDIUM] * 3, D("30"), steps=3, quantum=NANO)
    assert three.allocations == (D("10"), D("10"), D("10"))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of the quantum"):
        optimal_split([RAYDIUM], D("1.0000000001"), quantum=NANO)
    with pytest.raises(ValueError, match="no venues"):
        optimal_split([], D("1"), quantum=NANO)
    with pytest.raises(ValueError, match="no venues"):
        best_single([], D("1"))
    with pytest.raises(ValueError, match="positive"):
        optimal_split([RAYDIUM], D("0"), quantum=NANO)
    with pytest.raises(ValueError, match="steps"):
        brute_force_split([RAYDIUM], D("1"), steps=0, quantum=NANO)
