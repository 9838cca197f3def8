"""`make bench-scaling` runs `bench_production`'s run once per layout: each layout must
carry every setting that run reads (a missing one failed the whole benchmark at its
first layout, after the cluster had started)."""

from __future__ import annotations

from bench import bench_production, bench_scaling


def test_a_scaling_layout_carries_every_setting_a_production_run_reads() -> None:
    production = vars(bench_production._args([]))
    scaling = bench_scaling._args(["--layouts", "1x2"])
    layout = vars(bench_scaling.layout_args(scaling, 1, 2))
    assert sorted(set(production) - set(layout)) == []
    assert (layout["api_procs"], layout["workers"], layout["profile"]) == (1, 2, False)
