"""The R1-Zero format reward: 1.0 for exactly "<think> … </think> <answer> … </answer>", else 0.0.

DeepSeek-R1 (arXiv 2501.12948, section 2.2.2) rewards R1-Zero for putting its reasoning between
<think> and </think> and its answer between <answer> and </answer>. "Strict" here means:

* the completion (the text after "Assistant:") is, apart from whitespace, exactly
  <think> reasoning </think> <answer> answer </answer>, optionally followed by eos markers;
* each tag appears exactly once and in that order (the reasoning may be empty, the answer not);
* with open_think_optional=True the leading <think> may be absent, for prompts that end in
  "<think>\\n" themselves (the chat template).

Linear-time string scans only; never raises.
"""

from __future__ import annotations

from r1kit.data.templates import ANSWER_CLOSE, ANSWER_OPEN, TAGS, THINK_CLOSE, THINK_OPEN, strip_eos_tail


def format_reward(completion: str, example=None, task=None, *, open_think_optional: bool = False) -> float:
    """1.0 if `completion` has the strict R1-Zero tag structure (module docstring), else 0.0."""
    try:
        text = strip_eos_tail(completion).strip()
        if text.startswith(THINK_OPEN):
            text = text[len(THINK_OPEN) :]
        elif not open_think_optional:
            return 0.0
        reasoning, closed, rest = text.partition(THINK_CLOSE)
        rest = rest.strip()
        if not closed or not rest.startswith(ANSWER_OPEN) or not rest.endswith(ANSWER_CLOSE):
            return 0.0
        answer = rest[len(ANSWER_OPEN) : -len(ANSWER_CLOSE)]
        if not answer.strip() or any(tag in reasoning or tag in answer for tag in TAGS):
            return 0.0  # empty answer, or a stray/duplicated tag
        return 1.0
    except Exception:  # not a string, etc.
        return 0.0
