"""Evaluation by the R1 protocol: k samples per problem at T = 0.6, top-p 0.95; pass@1 = mean.

`run_eval` (`r1kit eval`) runs named benchmarks (each a data Task, eval.benchmarks) on a local model
or an OpenAI-compatible endpoint, with pass@k, cons@k, per-sample files and resume. The sampling and
scoring underneath is the one evaluator, rollout.evaluate, which the GRPO loop's held-out evaluation
and the demo also run; `evaluate`, `EvalResult` and `reasoning_share` are re-exported from there.
"""

from r1kit.eval.benchmarks import SPECS, benchmark_examples, default_samples, load_benchmark
from r1kit.eval.metrics import cons_at_k, majority_vote, pass_at_k, summarize
from r1kit.eval.runner import EvalRunConfig, run_eval
from r1kit.rollout.evaluate import EvalResult, EvalSettings, evaluate, reasoning_share

__all__ = ["SPECS", "EvalResult", "EvalRunConfig", "EvalSettings", "benchmark_examples", "cons_at_k",
           "default_samples", "evaluate", "load_benchmark", "majority_vote", "pass_at_k", "reasoning_share",
           "run_eval", "summarize"]
