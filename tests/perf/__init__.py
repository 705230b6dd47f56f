"""Benchmarks run by `make bench`: each `bench_*.py` prints ratios measured in one run."""
