"""Benchmarks: run with `python -m bench.bench_embedded` from the repository root."""
