"""`score` and `equivalent`: one definition of "is this answer right", for training and evaluation alike.

    verdicts = score(task, completions, examples, think_open=True)   # [Verdict(answer, score), ...]
    equivalent("math", [("\\frac12", "0.5")])                        # [True]  (cons@k voting)

The accuracy reward, the in-training evaluation and `r1kit eval` all call `score`, so the same
completion gets the same extracted answer and the same score everywhere (issue 9: "…</think> 42"
was right in training and wrong in eval). The steps, for every scorer:

1. `split_reasoning(completion, think_open)` -> the final part (what follows the last </think>).
   A reasoning block opened and never closed has no final part: answer None, score 0.0.
2. The answer is extracted from the final part, the scorer's way (`final_answer`).
3. It is checked against the gold: math by Math-Verify (verify.math), choice by letter
   (verify.choice), code by running the tests (verify.code, all must pass), arithmetic by integer
   and countdown by the equation rule (verify.tasks).

Verdict.score is 1.0 right, 0.0 wrong (no answer included), None when the gold cannot be checked
(an unparsable math gold, a choice gold that is no letter, a code problem without tests): skip it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from r1kit.data.templates import ANSWER_OPEN, last_answer_block, split_reasoning
from r1kit.verify import choice, code, tasks
from r1kit.verify.math import extract_math_answer, is_free_text, verify_math_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    answer: str | None  # the extracted final answer; None: nothing extractable
    score: float | None  # 1.0 right, 0.0 wrong, None: the gold cannot be checked (skip the sample)


def final_answer(scorer: str, completion: str | None, example=None, think_open: bool = False) -> str | None:
    """The answer `score` checks, taken from the final part of `completion` (module docstring).

    math: `extract_math_answer` of the final part (\\boxed{}, <answer>, "final answer is X", else its
    marked free-text tail for Math-Verify's own extraction). arithmetic, countdown: the same explicit
    forms, else, when a reasoning block was closed, the whole final part ("…</think> 42"). For all
    three, a final part whose last <answer> is never closed has no fallback answer (it was cut off).
    choice: the chosen letter among the example's choices.
    code: the last fenced block, else the final part itself.
    """
    reasoning, final = split_reasoning(completion, think_open)
    if final is None:
        return None
    if scorer == "choice":
        return choice.extract_choice(final, choice.letters_of(example))
    if scorer == "code":
        return code.extract_code(final)
    found = extract_math_answer(final)
    cut_off = ANSWER_OPEN in final and last_answer_block(final) is None  # "<answer>4…": the answer was cut off
    if found and not is_free_text(found):
        return found
    if scorer == "math":
        return None if cut_off else found
    closed = reasoning is not None  # "…</think> 42": a finished reasoning block, then the bare answer
    return (final or None) if closed and not cut_off else None


def _check_math(task, answers, examples):
    return verify_math_batch([(a, ex.answer) for a, ex in zip(answers, examples)])


def _check_choice(task, answers, examples):
    out = []
    for a, ex in zip(answers, examples):
        want = choice.gold_letter(ex.answer, choice.letters_of(ex))
        out.append(None if want is None else float(a == want))
    return out


def _check_code(task, answers, examples):
    return code.run_tests(answers, examples, mode="all", timeout=float(getattr(task, "timeout", 10.0)))


def _check_arithmetic(task, answers, examples):
    return [tasks.check_integer(a, ex.answer) for a, ex in zip(answers, examples)]


def _check_countdown(task, answers, examples):
    return [tasks.check_countdown(a, ex.meta) for a, ex in zip(answers, examples)]


CHECKS = {"math": _check_math, "choice": _check_choice, "code": _check_code,
          "arithmetic": _check_arithmetic, "countdown": _check_countdown}


def score(task, completions: list[str], examples: list, *, think_open: bool = False) -> list[Verdict]:
    """One Verdict per completion; examples[i] is the problem completions[i] answers. Never raises.

    `think_open=True`: the prompt ended inside an opened <think> block (the R1 chat form), so a
    completion without </think> has not finished reasoning and has no final answer.
    A broken call (unknown scorer, mismatched lengths, a bug) is logged and scores every sample 0.0.
    """
    try:
        if len(completions) != len(examples):
            raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
        scorer = task.scorer
        check = CHECKS[scorer]
        answers = [final_answer(scorer, c, ex, think_open) for c, ex in zip(completions, examples)]
        scores = check(task, answers, examples)
        return [Verdict(a, None if s is None else float(s) if a is not None else 0.0) for a, s in zip(answers, scores)]
    except Exception:  # the reward contract: never raise; a broken task is a bug worth a log line
        log.exception("scoring failed; scoring the batch 0.0")
        try:
            return [Verdict(None, 0.0) for _ in completions]
        except TypeError:  # `completions` has no length
            return []


def equivalent(scorer: str, pairs: list[tuple[str, str]]) -> list[bool]:
    """"Same answer?" per pair of extracted answers, the scorer's way (cons@k voting). Never raises.

    math: Math-Verify equality (either side may be a free-text answer); choice: the same letter;
    arithmetic: the same integer; countdown and code: the same text up to whitespace.
    """
    try:
        if scorer == "math":
            return [s == 1.0 for s in verify_math_batch(list(pairs))]  # free-text answers included
        if scorer == "choice":
            return [isinstance(a, str) and isinstance(b, str) and a.strip().upper() == b.strip().upper()
                    for a, b in pairs]
        if scorer == "arithmetic":
            return [tasks.check_integer(a, b) == 1.0 for a, b in pairs]
        return [isinstance(a, str) and isinstance(b, str) and a.split() == b.split() for a, b in pairs]
    except Exception:
        log.exception("equivalence check failed; treating every pair as different")
        return [False] * len(pairs)
