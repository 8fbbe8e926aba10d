"""`r1kit eval` throughput through the local rollout engine: problems/s at k = 8.

    python benchmarks/eval_throughput.py [--model DIR] [--problems 64] [--samples 8]

The model is the demo's tiny base model (built and cached on first use, ~5 min) unless --model
is given; the benchmark is the synthetic `arithmetic` test split with the R1-Zero template, scored
by the task's verifier, written to a throwaway output directory. Rows compare how many problems
share one engine batch (`problems_per_batch`), side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    from r1kit.eval.runner import EvalRunConfig, run_eval

    torch.set_num_threads(args.threads)
    model = args.model or str(_demo_base())
    print(f"model {model}, {args.problems} arithmetic problems x k={args.samples}, <= {args.max_new_tokens} new tokens, "
          f"{args.threads} threads\n")
    print("| problems per batch | seconds | problems/s | samples/s | tokens/s | pass@1 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for per_batch in (1, 16, 64):
        with tempfile.TemporaryDirectory() as out:
            cfg = EvalRunConfig(model=model, benchmarks=["arithmetic"], samples=args.samples, limit=args.problems,
                                template="r1_zero", max_new_tokens=args.max_new_tokens, problems_per_batch=per_batch,
                                out=out, reference=False)
            start = time.perf_counter()
            summary = run_eval(cfg, progress=False)["arithmetic"]
            seconds = time.perf_counter() - start
            tokens = sum(json.loads(line)["tokens"] for line in open(Path(out) / "arithmetic" / "samples.jsonl"))
        n = summary["n_problems"]
        print(f"| {per_batch} | {seconds:.1f} | {n / seconds:.2f} | {n * args.samples / seconds:.1f} | "
              f"{tokens / seconds:.0f} | {summary['pass@1']['mean']:.3f} |")


def _demo_base() -> Path:
    from r1kit.pipeline.base_model import BaseModelConfig, get_base_model

    path, _ = get_base_model(BaseModelConfig())
    return path


if __name__ == "__main__":
    main()
