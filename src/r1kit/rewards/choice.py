"""The multiple-choice reward (GPQA-style): 1.0 when the completion chose the gold letter.

    choice_reward("<think>maybe (B)?</think> The answer is (C).", Example("q", "...", "C", {}))   # 1.0

The letter is read from the final part after the reasoning (r1kit.verify.choice, the same reader
`r1kit eval` uses); the letters offered are the example's choices (A-D for four) unless `letters`
is given. A reasoning block left open (`ctx.think_open` for a prompt that opened it) has no final
part, hence no choice: 0.0.
"""

from __future__ import annotations

from r1kit.data.templates import split_reasoning
from r1kit.verify.choice import LETTERS, extract_choice, gold_letter, letters_of, verify_choice

__all__ = ["choice_reward", "extract_choice", "verify_choice"]


def choice_reward(completion: str, example, ctx=None, *, letters: str = "") -> float | None:
    """1.0 if the chosen letter is `example.answer`'s, else 0.0 (no choice included).

    `letters`: the letters that count (default: the example's choices, else A-Z). None when the
    gold is not one of them (the sample is skipped). Never raises.
    """
    try:
        allowed = letters or letters_of(example, LETTERS)
        want = gold_letter(getattr(example, "answer", None), allowed)
        if want is None:
            return None
        _, final = split_reasoning(completion, bool(getattr(ctx, "think_open", False)))
        return 1.0 if final is not None and extract_choice(final, allowed) == want else 0.0
    except Exception:  # the reward contract
        return 0.0
