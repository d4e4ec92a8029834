"""Run every benchmark (issue 8; (f): 15; (g): 17; (h): 18) and write ``benchmarks/RESULTS.md``
(``make bench``).

``python -m benchmarks.run [--quick] [--only a,c] [--output PATH]``: ``--quick`` runs tiny versions
(a smoke test of the harness, a minute or two) and writes no file unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    import_cost,
    latency,
    ledger_cost,
    result_memory,
    scale,
    throughput,
    trigger_cost,
    vendor_calls,
)
from benchmarks.common import Result
from benchmarks.report import machine, render

BENCHMARKS: dict[str, Callable[[bool], Result]] = {
    "a": trigger_cost.run,
    "b": vendor_calls.run,
    "c": result_memory.run,
    "d": import_cost.run,
    "e": latency.run,
    "f": ledger_cost.run,
    "g": throughput.run,
    "h": scale.run,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def run_all(keys: list[str], quick: bool) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run the benchmarks named by ``keys``; a failing one is reported, the others still run."""
    results: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for key in keys:
        started = time.monotonic()
        try:
            result = BENCHMARKS[key](quick).to_dict()
        except Exception:
            failures[key] = traceback.format_exc()
            print(f"\n({key}) FAILED:\n{failures[key]}", flush=True)
            continue
        result["seconds"] = time.monotonic() - started
        print(f"({key}) took {result['seconds']:.0f} s", flush=True)
        results.append(result)
    return results, failures


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny versions: checks the harness runs")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="which benchmarks, e.g. a,c")
    parser.add_argument("--output", type=Path, help=f"where to write the report (default {RESULTS})")
    args = parser.parse_args()
    keys = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in keys if key not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}: choose among {', '.join(BENCHMARKS)}")
    before = machine()
    started = time.monotonic()
    results, failures = run_all(keys, args.quick)
    seconds = time.monotonic() - started
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        output.write_text(render(results, failures, before, seconds, args.quick))
        print(f"\nwrote {output} ({seconds / 60:.1f} minutes)", flush=True)
    if failures:
        raise SystemExit(f"{len(failures)} benchmark(s) failed: {', '.join(failures)}")


if __name__ == "__main__":
    main()
