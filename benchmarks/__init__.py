"""Benchmarks of issue 8 (trigger cost, vendor calls, memory, import cost, latency); `make bench` runs
them all through :mod:`benchmarks.run`, which writes ``benchmarks/RESULTS.md``."""
