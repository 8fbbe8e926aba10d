"""Benchmark: sandboxed executions per second of a trivial program (`print(1)`).

    python benchmarks/sandbox_throughput.py                  # workers 1, 2, 4; 200 runs each
    python benchmarks/sandbox_throughput.py --runs 400 --workers 1 2 4 8

Each row runs --runs jobs through `Sandbox.run_many` (after a warm-up of one job per worker) and
reports runs/s and the median per-run wall time (`ExecResult.wall_s`: spawn to last process reaped).
The last rows are the `unsafe_local=True` baseline (prlimit + plain subprocess, no bwrap, no isolation)
with the smallest and largest worker counts, i.e. what the isolation costs. Every run must print "1" and exit 0.
Rows are interleaved over --repeats rounds and the best round is kept, so machine noise hits all alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from r1kit.sandbox import Limits, Sandbox


def measure(sandbox: Sandbox, runs: int) -> tuple[float, float]:
    """(runs per second, median wall_s of one run) for `runs` jobs of print(1)."""
    sandbox.run_many([{"code": "print(1)"}] * sandbox.workers)  # warm-up: page cache, uid leases
    start = time.perf_counter()
    results = sandbox.run_many([{"code": "print(1)"}] * runs)
    elapsed = time.perf_counter() - start
    bad = [r for r in results if not (r.ok and r.stdout == "1\n")]
    if bad:
        raise SystemExit(f"{len(bad)} of {runs} runs failed, e.g. {bad[0]}")
    return runs / elapsed, statistics.median(r.wall_s for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="jobs per row and round")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts to measure")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best of them is reported")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    limits = Limits(wall_s=10.0)
    rows = [(f"bwrap, workers={w}", Sandbox(limits, workers=w)) for w in args.workers]
    rows += [(f"unsafe_local (no isolation), workers={w}", Sandbox(limits, workers=w, unsafe_local=True))
             for w in sorted({min(args.workers), max(args.workers)})]
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for name, sandbox in rows:
            rate, median = measure(sandbox, args.runs)
            if rate > best.get(name, (0.0, 0.0))[0]:
                best[name] = (rate, median)
    for _, sandbox in rows:
        sandbox.close()

    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at the start, {args.runs} runs x best of {args.repeats}\n")
    print("| setup | runs/s | median wall per run (ms) |")
    print("|---|---:|---:|")
    for name, _ in rows:
        rate, median = best[name]
        print(f"| {name} | {rate:.1f} | {median * 1000:.1f} |")


if __name__ == "__main__":
    main()
