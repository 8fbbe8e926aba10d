"""Rewards by name, and `compute_rewards`, the weighted sum the trainer optimises.

    totals, parts = compute_rewards(completions, examples, task, {"accuracy": 1.0, "format": 0.5})

A reward function has the signature (completion, example, task) -> float | None; None means
"does not apply to this sample" and counts as 0 in the total (TRL's contract). Rewards with a
faster batched form (accuracy: Math-Verify checks in parallel) are listed in BATCHED too.
"""

from __future__ import annotations

import logging
from typing import Callable

from r1kit.errors import R1kitError
from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards
from r1kit.rewards.format import format_reward

log = logging.getLogger(__name__)

RewardFn = Callable[..., "float | None"]  # (completion, example, task) -> float | None

REWARDS: dict[str, RewardFn] = {"accuracy": accuracy_reward, "format": format_reward}
BATCHED: dict[str, Callable[[list, list, object], list]] = {"accuracy": accuracy_rewards}


def compute_rewards(
    completions: list[str], examples: list, task, weights: dict[str, float]
) -> tuple[list[float], dict[str, list[float | None]]]:
    """Weighted total per completion and each named component (None kept in the component).

        total_i = sum_k weights[k] * (r_k(completion_i) or 0)

    examples[i] is the example completion i answers (repeat an example for its G samples).
    """
    unknown = sorted(set(weights) - set(REWARDS))
    if unknown:
        raise R1kitError(f"unknown reward(s) {', '.join(unknown)}; valid rewards: {', '.join(sorted(REWARDS))}")
    if len(completions) != len(examples):
        raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
    parts = {name: _component(name, completions, examples, task) for name in weights}
    totals = [
        sum(weights[name] * (parts[name][i] or 0.0) for name in weights) for i in range(len(completions))
    ]
    return totals, parts


def _component(name: str, completions: list[str], examples: list, task) -> list[float | None]:
    if name in BATCHED:
        return BATCHED[name](completions, examples, task)
    scores = []
    for completion, example in zip(completions, examples):
        try:
            scores.append(REWARDS[name](completion, example, task))
        except Exception:  # a reward broke its never-raise contract: skip the sample, say so
            log.exception("reward %r raised; scoring the sample None", name)
            scores.append(None)
    return scores
