"""Evaluation by the R1 protocol: k samples per problem at T = 0.6, top-p 0.95; pass@1 = mean."""

from r1kit.eval.evaluate import EvalResult, evaluate, reasoning_share

__all__ = ["EvalResult", "evaluate", "reasoning_share"]
