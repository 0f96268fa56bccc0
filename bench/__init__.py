"""Benchmarks behind `make bench`. Each module runs alone as `python -m bench.NAME` and has
`main(argv: list[str] | None = None) -> int | None` (a non-zero result: a target was missed)."""

# Run by `python -m bench` in this order; add a module here to include it.
BENCHMARKS = ("bench.listing", "bench.metrics", "bench.store", "bench.cycle", "bench.scale")
