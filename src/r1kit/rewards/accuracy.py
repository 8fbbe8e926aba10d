"""The accuracy reward: is the completion's final answer right? (DeepSeek-R1, section 2.2.2).

The score is `r1kit.verify.score`'s, the same call `r1kit eval` and the in-training evaluation
make, so a reward and an eval score can never disagree: the final part after the last </think>,
the answer extracted from it the task's way (its `scorer`), checked against the gold. No
extractable answer scores 0.0; a gold that cannot be checked gives None (the sample is skipped).
"""

from __future__ import annotations


def accuracy_reward(completion: str, example, task, think_open: bool = False) -> float | None:
    """1.0 if the answer in `completion` is correct for `example`, else 0.0; None when the gold
    cannot be checked (e.g. an unparsable math gold). `think_open`: the prompt opened <think>."""
    return accuracy_rewards([completion], [example], task, think_open)[0]


def accuracy_rewards(completions: list[str], examples: list, task, think_open: bool = False) -> list[float | None]:
    """`accuracy_reward` over a batch: one `verify.score` call (Math-Verify checks run in parallel)."""
    from r1kit.verify import score

    return [v.score for v in score(task, completions, examples, think_open=think_open)]
