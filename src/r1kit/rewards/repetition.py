"""The n-gram repetition penalty: a completion that keeps repeating itself scores below 0.

    repetition_penalty_reward("a b c a b c", ex, ctx, n=3)   # 4 trigrams, 3 distinct: -1 * (1 - 3/4) = -0.25

Yeo et al. 2025 (arXiv 2502.03373, section 4) add an n-gram repetition penalty to the cosine reward
because RL learns to hit length targets by looping. This is their sequence-level form (the
`get_repetition_penalty` of their released code): one scalar per completion, over lower-cased
whitespace-separated words of the whole completion (reasoning and answer: degenerate loops are
what matters, wherever they are), text after an eos marker ignored. One pass: hashing n-tuples.
"""

from __future__ import annotations

from r1kit.data.templates import cut_at_eos


def repetition_penalty(words: list[str], n: int, max_penalty: float) -> float:
    """max_penalty * (1 - distinct n-grams / total n-grams); 0.0 with fewer than n words.

    total = len(words) - n + 1 (overlapping n-grams). max_penalty <= 0, so the result is in
    [max_penalty, 0]: 0 when no n-gram repeats, max_penalty only in the limit of pure repetition.
    """
    total = len(words) - n + 1
    if n < 1 or total < 1:
        return 0.0
    distinct = len(set(zip(*(words[i:] for i in range(n)))))  # the n-grams, hashed as tuples
    return 0.0 if distinct == total else max_penalty * (1.0 - distinct / total)  # 0.0, not -0.0


def repetition_penalty_reward(
    completion: str, example=None, ctx=None, *, n: int = 3, max_penalty: float = -1.0
) -> float | None:
    """`repetition_penalty` over the completion's words (module docstring); None for a non-string.

    n = 3 and max_penalty = -1 are the defaults of open-r1's port of this reward (the authors'
    code takes both as arguments); -1 puts the penalty on the scale of a 0/1 accuracy reward.
    """
    try:
        if not isinstance(completion, str):
            return None
        return repetition_penalty(cut_at_eos(completion).lower().split(), int(n), float(max_penalty))
    except Exception:  # the reward contract: never raise
        return None
