"""Reward functions for R1-style RL (see docs/ARCHITECTURE.md, "rewards/").

REWARDS maps names to rewards (completion, example, ctx, **options) -> float | None, and
compute_rewards combines them by the run's weights. Every reward is bounded in time and never
raises. Math answers are checked by r1kit.verify (Math-Verify in a pool of killable worker
processes); programs run in the bubblewrap sandbox (r1kit.sandbox).
"""

from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards
from r1kit.rewards.choice import choice_reward, extract_choice, verify_choice
from r1kit.rewards.code import code_reward, code_rewards, extract_code
from r1kit.rewards.context import RewardContext
from r1kit.rewards.format import format_reward
from r1kit.rewards.registry import REWARDS, Reward, RewardFn, check_rewards, compute_rewards, register

__all__ = [
    "REWARDS", "Reward", "RewardContext", "RewardFn", "accuracy_reward", "accuracy_rewards",
    "check_rewards", "choice_reward", "code_reward", "code_rewards", "compute_rewards", "extract_choice",
    "extract_code", "format_reward", "register", "verify_choice",
]
