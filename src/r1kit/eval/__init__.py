"""Evaluation by the R1 protocol: k samples per problem at T = 0.6, top-p 0.95; pass@1 = mean.

`evaluate` scores a task's examples during training; `run_eval` (`r1kit eval`) runs named benchmarks
on a local model or an OpenAI-compatible endpoint, with pass@k, cons@k, per-sample files and resume.
"""

from r1kit.eval.benchmarks import SPECS, Benchmark, load_benchmark
from r1kit.eval.evaluate import EvalResult, evaluate, reasoning_share
from r1kit.eval.metrics import cons_at_k, majority_vote, pass_at_k, summarize
from r1kit.eval.runner import EvalRunConfig, run_eval

__all__ = ["SPECS", "Benchmark", "EvalResult", "EvalRunConfig", "cons_at_k", "evaluate", "load_benchmark",
           "majority_vote", "pass_at_k", "reasoning_share", "run_eval", "summarize"]
