"""Length-aware rewards: the cosine length-scaled reward and DAPO's soft overlong penalty.

    cosine_length_reward(completion, example, RewardContext(task, num_tokens=900, max_tokens=1024))
    overlong_penalty_reward(completion, example, RewardContext(num_tokens=900, max_tokens=1024))

Both read the completion length from `ctx.num_tokens` (tokens, eos included) and the budget from
`ctx.max_tokens` unless the `max_len` option overrides it; an unknown length or budget gives None
("does not apply"). The equations live in the pure functions `cosine_scaled` and `overlong_penalty`;
the reward functions only gather their inputs. Constant time per completion, apart from the
correctness check `cosine_length_reward` delegates to r1kit.verify (rewards/accuracy.py).
"""

from __future__ import annotations

import logging
import math

from r1kit.rewards import accuracy

log = logging.getLogger(__name__)


def cosine_scaled(
    correct: bool,
    length: int,
    max_len: int,
    *,
    r0_correct: float = 2.0,
    rL_correct: float = 1.0,
    r0_wrong: float = -10.0,
    rL_wrong: float = 0.0,
    r_exceed: float = -10.0,
    truncated: bool = False,
) -> float:
    """The cosine length-scaling reward of Yeo et al. 2025 (arXiv 2502.03373, section 4).

        CosFn(t, T, r0, rL) = rL + 1/2 (r0 - rL) (1 + cos(pi t / T))        # = r0 at t=0, rL at t=T
        R = CosFn(t, T, r0_correct, rL_correct)   if correct
            CosFn(t, T, r0_wrong,   rL_wrong)     if wrong
            r_exceed                              if t > T or truncated

    t = `length` (generated tokens), T = `max_len`. Written with eta_min = rL, eta_max = r0 this is
    the paper's eta_min + 1/2 (eta_max - eta_min)(1 + cos(pi t / T)). The paper assigns r_e when
    "L_gen = L_max", i.e. when generation hit the budget: that is `truncated` here, plus any t > T
    (when `max_len` is set below the sampling budget). Defaults are the paper's: a short correct
    answer beats a long one (2 -> 1), a long wrong answer beats a short one (-10 -> 0).
    """
    if truncated or length > max_len:
        return r_exceed
    r0, rL = (r0_correct, rL_correct) if correct else (r0_wrong, rL_wrong)
    return rL + 0.5 * (r0 - rL) * (1.0 + math.cos(math.pi * length / max_len))


def _length_and_budget(ctx, max_len: int | None) -> tuple[int, int] | None:
    """(t, T) from the context and the option, or None when either is unknown or T <= 0."""
    length = getattr(ctx, "num_tokens", None)
    budget = max_len if max_len is not None else getattr(ctx, "max_tokens", None)
    if length is None or budget is None or budget <= 0 or length < 0:
        return None
    return int(length), int(budget)


def cosine_length_reward(
    completion: str,
    example,
    ctx,
    *,
    max_len: int | None = None,
    r0_correct: float = 2.0,
    rL_correct: float = 1.0,
    r0_wrong: float = -10.0,
    rL_wrong: float = 0.0,
    r_exceed: float = -10.0,
) -> float | None:
    """`cosine_scaled` for one completion; correct iff `accuracy_reward` gives 1.0.

    max_len: T; default `ctx.max_tokens`. The r* options are `cosine_scaled`'s (the paper's defaults).
    None when the length, the budget or `ctx.task` is unknown, the task cannot score the example
    (accuracy None), or the completion is not a string.
    """
    return cosine_length_rewards(
        [completion], [example], [ctx], max_len=max_len, r0_correct=r0_correct, rL_correct=rL_correct,
        r0_wrong=r0_wrong, rL_wrong=rL_wrong, r_exceed=r_exceed,
    )[0]


def cosine_length_rewards(
    completions: list[str], examples: list, contexts: list, *, max_len: int | None = None, **values: float,
) -> list[float | None]:
    """`cosine_length_reward` over a batch, with one `accuracy_rewards` call (task = contexts[0].task).

    `values`: the r* options of `cosine_length_reward` (checked there by the registry).
    Completions over the budget (or truncated) score r_exceed without a correctness check.
    """
    try:
        if not len(completions) == len(examples) == len(contexts):
            raise ValueError(f"{len(completions)} completions, {len(examples)} examples, {len(contexts)} contexts")
        task = getattr(contexts[0], "task", None) if contexts else None
        if task is None:
            return [None] * len(completions)
        lengths = [
            _length_and_budget(ctx, max_len) if isinstance(c, str) else None for c, ctx in zip(completions, contexts)
        ]
        truncated = [bool(getattr(ctx, "truncated", False)) for ctx in contexts]
        need = [i for i, tb in enumerate(lengths) if tb is not None and tb[0] <= tb[1] and not truncated[i]]
        accuracy_of = {}
        if need:
            think_open = bool(getattr(contexts[0], "think_open", False))
            scores = accuracy.accuracy_rewards([completions[i] for i in need], [examples[i] for i in need], task,
                                               think_open)
            accuracy_of = dict(zip(need, scores))
        rewards = []
        for i, tb in enumerate(lengths):
            score = accuracy_of.get(i, 0.0)  # over the budget: correctness does not matter
            if tb is None or score is None:  # unknown length, or a task that cannot score the example
                rewards.append(None)
            else:
                rewards.append(cosine_scaled(score == 1.0, tb[0], tb[1], truncated=truncated[i], **values))
        return rewards
    except Exception:  # the reward contract: never raise
        log.exception("cosine length reward failed; scoring the batch None")
        try:
            return [None] * len(completions)
        except Exception:  # `completions` has no length
            return []


def overlong_penalty(length: int, max_len: int, buffer: int) -> float:
    """DAPO's soft overlong punishment (arXiv 2503.14476, section 3.4).

        R(y) =  0                                  |y| <= L_max - L_cache
                ((L_max - L_cache) - |y|) / L_cache   L_max - L_cache < |y| <= L_max
                -1                                 L_max < |y|

    |y| = `length`, L_max = `max_len`, L_cache = `buffer`. Continuous: 0 at the start of the buffer,
    -1 at |y| = L_max (so a completion cut off at exactly the budget gets -1). buffer <= 0 is the
    hard cutoff (0, then -1 past L_max).
    """
    if length > max_len:
        return -1.0
    if buffer <= 0 or length <= max_len - buffer:
        return 0.0
    return (max_len - buffer - length) / buffer


def overlong_penalty_reward(
    completion: str, example=None, ctx=None, *, max_len: int | None = None, buffer: int | None = None
) -> float | None:
    """`overlong_penalty` for one completion; a penalty in [-1, 0].

    max_len: L_max; default `ctx.max_tokens` (DAPO's L_max is the sampling budget, 20480).
    buffer: L_cache; default max_len // 5, DAPO's ratio (4096 of 20480).
    None when the length or budget is unknown, or the completion is not a string.
    """
    try:
        tb = _length_and_budget(ctx, max_len)
        if tb is None or not isinstance(completion, str):
            return None
        length, budget = tb
        return overlong_penalty(length, budget, budget // 5 if buffer is None else int(buffer))
    except Exception:  # the reward contract: never raise
        return None
