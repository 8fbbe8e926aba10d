"""Math verifier throughput: checks/s through r1kit's worker pool, clean and with hostile answers mixed in.

    python benchmarks/verifier_throughput.py [--workers 2] [--timeout 5] [--hostile-every 20]

Pairs: every gold answer of ../shared/data's math files (MATH-500, GSM8K, AIME, AMC) against the
same answer restated in another form (so Math-Verify, not the string fast path, decides), plus
the same number of wrong answers. The hostile run replaces every Nth prediction with an input
that hangs or stalls Math-Verify (power towers, 1 MB strings, deep or unclosed braces, a
999-letter product). Both runs go through
`verify_math_batch`, the function the accuracy reward calls; timeouts are counted by the pool.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "verify"))
from test_math_golds import FILES, restate  # noqa: E402  (the same restatement the tests check)

from r1kit.verify import math as rmath  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The first seven are caught by cheap shape and length checks before any worker sees them; the last
# three are not (a 999-letter product takes Math-Verify ~0.2 s).
HOSTILE = ["2^{2^{2^{2^{2^{2}}}}}", "10^10^10^10", "1" * 1_000_000, "\\boxed{" * 1000, "{" * 5000 + "}" * 5000,
           "\\frac{" * 2000, "x" * 9000, "x" * 999, "1+" * 499 + "1", "(10^10)^10"]


def pairs() -> list[tuple[str, str]]:
    if not DATA.is_dir():
        sys.exit(f"shared benchmark data not found at {DATA}")
    golds = [json.loads(line)["answer"] for name in FILES for line in (DATA / f"{name}.jsonl").open()]
    wrong = [golds[(i + 7) % len(golds)] for i in range(len(golds))]
    return [(restate(g), g) for g in golds] + [(w, g) for w, g in zip(wrong, golds)]


def run(label: str, batch: list[tuple[str, str]], timeout: float) -> dict:
    rmath.shutdown_pool()
    rmath._good_golds.clear()
    rmath._bad_golds.clear()
    pool = rmath.get_pool()
    pool.check_batch([("1", "1")])  # wait for the workers to start: time checks, not imports
    start = time.perf_counter()
    scores = rmath.verify_math_batch(batch, timeout=timeout)
    seconds = time.perf_counter() - start
    stats = pool.stats.as_dict()
    return {"run": label, "pairs": len(batch), "pool checks": stats["checks"] - 1, "seconds": round(seconds, 2),
            "pairs/s": round(len(batch) / seconds, 1), "timeouts": stats["timeouts"],
            "restarts": stats["restarts"], "correct": int(sum(s or 0 for s in scores))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--hostile-every", type=int, default=20)
    args = ap.parse_args()
    import os

    os.environ["R1KIT_VERIFY_WORKERS"] = str(args.workers)
    clean = pairs()
    hostile = [(HOSTILE[i % len(HOSTILE)], g) if i % args.hostile_every == 0 else (p, g)
               for i, (p, g) in enumerate(clean)]
    rows = [run("clean", clean, args.timeout), run(f"1 in {args.hostile_every} hostile", hostile, args.timeout)]
    print(f"workers={args.workers} timeout={args.timeout}s")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    rmath.shutdown_pool()


if __name__ == "__main__":
    main()
