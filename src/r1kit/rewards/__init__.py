"""Reward functions for R1-style RL (see docs/ARCHITECTURE.md, "rewards/").

REWARDS maps names to (completion, example, task) -> float | None; compute_rewards combines them.
Every reward is bounded in time and never raises. Math answers are checked by Math-Verify in a
pool of killable worker processes (verifier.py), started on the first math check.
"""

from r1kit.rewards.accuracy import accuracy_reward
from r1kit.rewards.format import format_reward
from r1kit.rewards.math import (
    extract_math_answer,
    get_pool,
    normalize_answer,
    shutdown_pool,
    verifier_stats,
    verify_math,
    verify_math_batch,
)
from r1kit.rewards.registry import REWARDS, RewardFn, compute_rewards
from r1kit.rewards.verifier import VerifierPool

__all__ = [
    "REWARDS", "RewardFn", "VerifierPool", "accuracy_reward", "compute_rewards", "extract_math_answer",
    "format_reward", "get_pool", "normalize_answer", "shutdown_pool", "verifier_stats", "verify_math",
    "verify_math_batch",
]
