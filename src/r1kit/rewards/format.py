"""Format rewards for the R1 tag structure: strict and lenient R1-Zero, and the R1 chat form. 1.0 or 0.0.

DeepSeek-R1 (arXiv 2501.12948, section 2.2.2) rewards R1-Zero for putting its reasoning between
<think> and </think> and its answer between <answer> and </answer>. Three readings of that rule:

* `format_reward` (strict): the completion (the text after "Assistant:") is, apart from whitespace,
  exactly <think> reasoning </think> <answer> answer </answer>, optionally followed by eos markers;
  each tag appears exactly once and in that order (the reasoning may be empty, the answer not);
  with open_think_optional=True the leading <think> may be absent, for prompts that end in
  "<think>\\n" themselves (the chat template).
* `format_lenient_reward`: a <think> … </think> block, then later (other text allowed in between
  and around) a non-empty <answer> … </answer> block -- the one `parse_completion` would grade.
  Duplicated tags are tolerated; reordered ones (answer before the think block closes) are not.
* `chat_format_reward`: the R1 chat form, whose prompt ends in "<think>\\n" (templates.py), so the
  completion is: reasoning, exactly one </think>, then a non-empty plain answer with no think tags.

Text after the first eos marker is ignored by the lenient and chat forms (it was never generated
as part of the answer); the strict form only allows eos markers at the very end. Linear-time
string scans only; never raises; a non-string completion scores 0.0.
"""

from __future__ import annotations

from r1kit.data.templates import (
    ANSWER_CLOSE, ANSWER_OPEN, TAGS, THINK_CLOSE, THINK_OPEN, cut_at_eos, last_answer_block, strip_eos_tail,
)


def format_reward(completion: str, example=None, task=None, *, open_think_optional: bool = False) -> float:
    """1.0 if `completion` has the strict R1-Zero tag structure (module docstring), else 0.0.

    The third positional argument (a task or a RewardContext) is accepted and ignored.
    """
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


def format_lenient_reward(completion: str, example=None, ctx=None, *, open_think_optional: bool = False) -> float:
    """1.0 if a <think>…</think> block is followed later by a non-empty <answer>…</answer> block, else 0.0.

        r = 1  iff  <think> precedes </think> (<think> optional with open_think_optional=True), and after
                    that first </think> the last complete <answer>…</answer> block is non-empty
        r = 0  otherwise

    DeepSeek-R1 section 2.2.2, read loosely (the "soft" format check of open-r1-style replications):
    text before, between and after the blocks is allowed, so is a repeated tag.
    """
    try:
        text = cut_at_eos(completion)
        open_ = text.find(THINK_OPEN)
        if open_ == -1 and not open_think_optional:
            return 0.0
        close = text.find(THINK_CLOSE, 0 if open_ == -1 else open_ + len(THINK_OPEN))
        if close == -1:
            return 0.0
        answer = last_answer_block(text[close + len(THINK_CLOSE) :])  # the block accuracy grades
        return 1.0 if answer else 0.0
    except Exception:  # not a string, etc.
        return 0.0


def chat_format_reward(completion: str, example=None, ctx=None) -> float:
    """1.0 if `completion` has the R1 chat form "reasoning </think> answer", else 0.0.

        r = 1  iff  completion = [ws] [<think>] reasoning </think> answer [eos…]  with
                    exactly one </think>, no <think> inside the reasoning, no think tag in the
                    answer, and an answer that is not empty once whitespace and answer tags go
        r = 0  otherwise

    The chat prompt already opened the think block (templates.render_prompt, "chat"), so the
    completion normally starts inside it; an opening <think> at its very start is tolerated. The
    reasoning may be empty; the answer is free text (<answer> tags in it are allowed, not required).
    """
    try:
        text = cut_at_eos(completion).lstrip()
        if text.startswith(THINK_OPEN):
            text = text[len(THINK_OPEN) :]
        reasoning, closed, answer = text.partition(THINK_CLOSE)
        content = answer.replace(ANSWER_OPEN, "").replace(ANSWER_CLOSE, "")
        if not closed or not content.strip() or THINK_OPEN in reasoning:
            return 0.0
        if THINK_OPEN in answer or THINK_CLOSE in answer:
            return 0.0  # a second think block, or a duplicated </think>
        return 1.0
    except Exception:  # not a string, etc.
        return 0.0
