"""Rewards by name, and `compute_rewards`, the weighted sum the trainer optimises.

    totals, parts = compute_rewards(completions, examples, task, {"accuracy": 1.0, "format": 0.5})

In a run's YAML:

    rewards: {accuracy: 1.0, format: 1.0, language: 0.1}
    reward_options: {language: {language: en}}

A reward follows the contract in `r1kit.rewards.context`: (completion, example, ctx, **options)
-> float | None, never raises. None means "does not apply to this sample" (an unparsable gold,
an unknown length); it counts as 0 in the total and is logged as skipped. Rewards with a faster
batched form (Math-Verify checks in parallel, programs run in parallel sandboxes) register it as
`batch`, called as batch(completions, examples, contexts, **options).

Options are the reward function's keyword-only parameters: an unknown option or a wrong type is
an R1kitError naming it, raised by `check_rewards` before a run writes anything.
"""

from __future__ import annotations

import inspect
import logging
import typing
from dataclasses import dataclass
from typing import Any, Callable

from r1kit.config import _coerce
from r1kit.errors import R1kitError
from r1kit.rewards import choice, code, language, length, repetition
from r1kit.rewards import llm_judge, per_type, reward_model as rm
from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards
from r1kit.rewards.context import RewardContext
from r1kit.rewards.format import chat_format_reward, format_lenient_reward, format_reward

log = logging.getLogger(__name__)

RewardFn = Callable[..., "float | None"]  # (completion, example, ctx, **options) -> float | None


@dataclass(frozen=True)
class Reward:
    """A registered reward: the per-sample function and, optionally, a batched equivalent."""

    fn: RewardFn
    batch: Callable[..., list] | None = None  # (completions, examples, contexts, **options) -> list
    preflight: Callable[[dict], None] | None = None  # (options) -> None; raises R1kitError before a run


REWARDS: dict[str, Reward] = {
    "accuracy": Reward(lambda c, ex, ctx: accuracy_reward(c, ex, ctx.task, ctx.think_open),
                       lambda cs, exs, ctxs: accuracy_rewards(cs, exs, ctxs[0].task, ctxs[0].think_open)),
    "format": Reward(format_reward),
    "format_lenient": Reward(format_lenient_reward),
    "chat_format": Reward(chat_format_reward),
    "language": Reward(language.language_reward),
    "cosine_length": Reward(length.cosine_length_reward, length.cosine_length_rewards),
    "overlong": Reward(length.overlong_penalty_reward),
    "repetition": Reward(repetition.repetition_penalty_reward),
    "choice": Reward(choice.choice_reward),
    "code": Reward(code.code_reward, code.code_rewards, code.code_preflight),
    "reward_model": Reward(rm.reward_model_reward, rm.reward_model_rewards, rm.reward_model_preflight),
    "llm_judge": Reward(llm_judge.llm_judge_reward, llm_judge.llm_judge_rewards, llm_judge.llm_judge_preflight),
    "per_type": Reward(per_type.per_type_reward, per_type.per_type_rewards, per_type.per_type_preflight),
}


def register(name: str, fn: RewardFn, batch: Callable[..., list] | None = None,
             preflight: Callable[[dict], None] | None = None) -> None:
    """Add a reward under `name` (replacing one of that name); it can then be weighted in YAML."""
    REWARDS[name] = Reward(fn, batch, preflight)


def check_rewards(weights: dict[str, float], options: dict[str, dict] | None = None,
                  preflight: bool = False) -> dict[str, dict]:
    """Validate names and options; return the options per named reward, coerced to their declared types.

    With `preflight`, also run each weighted reward's start-up check (the code reward's sandbox
    self-test), so a run that could not score its samples stops before it writes anything.
    """
    options = options or {}
    unknown = sorted((set(weights) | set(options)) - set(REWARDS))
    if unknown:
        raise R1kitError(f"unknown reward(s) {', '.join(unknown)}; valid rewards: {', '.join(sorted(REWARDS))}")
    resolved = {name: _check_options(name, options.get(name) or {}) for name in set(weights) | set(options)}
    for name in weights if preflight else ():
        if REWARDS[name].preflight is not None:
            REWARDS[name].preflight(resolved[name])
    return resolved


def _check_options(name: str, given: dict) -> dict:
    fn = REWARDS[name].fn
    params = {p.name: p for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
    bad = sorted(set(given) - set(params))
    if bad:
        valid = ", ".join(sorted(params)) or "none"
        raise R1kitError(f"unknown option(s) {', '.join(bad)} for reward {name!r}; valid options: {valid}")
    hints = typing.get_type_hints(fn)
    return {k: _coerce(v, hints.get(k, Any), f"reward_options.{name}.{k}") for k, v in given.items()}


def compute_rewards(
    completions: list[str], examples: list, task, weights: dict[str, float], *,
    contexts: list[RewardContext] | None = None, options: dict[str, dict] | None = None,
) -> tuple[list[float], dict[str, list[float | None]]]:
    """Weighted total per completion and each named component (None kept in the component).

        total_i = sum_k weights[k] * (r_k(completion_i) or 0)

    examples[i] is the example completion i answers (repeat an example for its G samples);
    contexts[i] its generation facts (default: only the task is known).
    """
    resolved = check_rewards(weights, options)
    if len(completions) != len(examples):
        raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
    contexts = contexts or [RewardContext(task=task)] * len(completions)
    parts = {name: _component(name, completions, examples, contexts, resolved[name]) for name in weights}
    totals = [
        sum(weights[name] * (parts[name][i] or 0.0) for name in weights) for i in range(len(completions))
    ]
    return totals, parts


def _component(name: str, completions: list[str], examples: list, contexts: list, options: dict) -> list:
    reward = REWARDS[name]
    if reward.batch is not None:
        try:
            scores = reward.batch(completions, examples, contexts, **options)
            if len(scores) == len(completions):
                return [_as_score(s) for s in scores]
            log.error("reward %r returned %d scores for %d completions", name, len(scores), len(completions))
        except Exception:  # a batched reward broke its contract: fall back to one at a time
            log.exception("batched reward %r raised; scoring one sample at a time", name)
    return [_one(name, reward.fn, c, ex, ctx, options) for c, ex, ctx in zip(completions, examples, contexts)]


def _one(name: str, fn: RewardFn, completion: str, example, ctx: RewardContext, options: dict) -> float | None:
    try:
        return _as_score(fn(completion, example, ctx, **options))
    except Exception:  # a reward broke its never-raise contract: skip the sample, say so
        log.exception("reward %r raised; scoring the sample None", name)
        return None


def _as_score(value) -> float | None:
    """float, or None for None and non-finite values (a NaN must never reach the advantages)."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None
