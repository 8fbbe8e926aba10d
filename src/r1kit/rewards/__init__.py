"""Reward functions for R1-style RL (see docs/ARCHITECTURE.md, "rewards/").

REWARDS maps names to rewards (completion, example, ctx, **options) -> float | None, and
compute_rewards combines them by the run's weights. Every reward is bounded in time and never
raises. Math answers are checked by Math-Verify in a pool of killable worker processes
(verifier.py); programs run in the bubblewrap sandbox (r1kit.sandbox).
"""

from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards
from r1kit.rewards.choice import choice_reward, extract_choice, verify_choice
from r1kit.rewards.code import code_reward, code_rewards, extract_code
from r1kit.rewards.context import RewardContext
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
from r1kit.rewards.registry import REWARDS, Reward, RewardFn, check_rewards, compute_rewards, register
from r1kit.rewards.verifier import VerifierPool

__all__ = [
    "REWARDS", "Reward", "RewardContext", "RewardFn", "VerifierPool", "accuracy_reward", "accuracy_rewards",
    "check_rewards", "choice_reward", "code_reward", "code_rewards", "compute_rewards", "extract_choice",
    "extract_code", "extract_math_answer", "format_reward", "get_pool", "normalize_answer", "register",
    "shutdown_pool", "verifier_stats", "verify_choice", "verify_math", "verify_math_batch",
]
