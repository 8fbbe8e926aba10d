"""The accuracy reward: is the completion's final answer right? (DeepSeek-R1, section 2.2.2).

The answer is taken with `parse_completion` (last <answer> block, else the text after </think>)
and scored by the task's own `verify`, the same function evaluation uses, so a reward and an
eval score can never disagree. A completion with no extractable answer scores 0.0.
"""

from __future__ import annotations

import logging

from r1kit.data.templates import parse_completion

log = logging.getLogger(__name__)


def accuracy_reward(completion: str, example, task) -> float | None:
    """1.0 if the answer in `completion` is correct for `example` under `task.verify`, else 0.0;
    None when the task cannot score the example (e.g. an unparsable gold answer).
    """
    return accuracy_rewards([completion], [example], task)[0]


def accuracy_rewards(completions: list[str], examples: list, task) -> list[float | None]:
    """`accuracy_reward` over a batch, through `task.verify_batch` (parallel for math tasks)."""
    try:
        answers = [parse_completion(c).answer for c in completions]
        verify_batch = getattr(task, "verify_batch", None)
        if verify_batch is None:  # a duck-typed task with only `verify`
            scores = [task.verify(a, ex) if a is not None else 0.0 for a, ex in zip(answers, examples)]
        else:
            scores = verify_batch(answers, examples)
        return [None if s is None else float(s) if a is not None else 0.0 for a, s in zip(answers, scores)]
    except Exception:  # the reward contract: never raise; a broken task is a bug worth a log line
        log.exception("accuracy reward failed; scoring the batch 0.0")
        return [0.0] * len(completions)
