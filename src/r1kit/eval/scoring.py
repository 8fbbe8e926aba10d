"""Prompts and scoring per benchmark kind, following DeepSeek's usage recommendations for R1.

No system prompt; the user turn is the problem, for math followed by "Please reason step by step,
and put your final answer within \\boxed{}."; GPQA in OpenAI simple-evals' multiple-choice format;
the response is forced to begin with "<think>\\n" by the chat template (local) or the server.

    user_prompt(bench, example)                  # the text of the user turn
    score(bench, completions, examples)          # [(extracted answer or None, correct), ...]
    equivalence(bench)                           # batched answer-equivalence check for cons@k
"""

from __future__ import annotations

from typing import Callable

from r1kit.data.templates import MATH_DIRECTIVE, parse_completion

# OpenAI simple-evals, QUERY_TEMPLATE_MULTICHOICE (GPQA), generalised to any number of choices.
CHOICE_TEMPLATE = ("Answer the following multiple choice question. The last line of your response should be of "
                   "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. "
                   "Think step by step before answering.\n\n{problem}\n\n{choices}")
MATH_TEMPLATE = "{problem}\n" + MATH_DIRECTIVE


def user_prompt(bench, example, template: str = "") -> str:
    """The user turn for `example`. `template` overrides the default: "{problem}" is replaced by the
    problem text (and, for multiple choice, "{choices}" and "{letters}")."""
    if bench.scorer == "choice":
        choices = example.meta["choices"]
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(choices)]
        listed = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, choices))
        text = template or CHOICE_TEMPLATE
        return text.replace("{letters}", letters).replace("{choices}", listed).replace("{problem}", example.problem)
    default = MATH_TEMPLATE if bench.scorer == "math" else "{problem}"
    return (template or default).replace("{problem}", example.problem)


def score(bench, completions: list[str], examples: list) -> list[tuple[str | None, bool]]:
    """(answer, correct) per completion; the answer is what was extracted (None: nothing parsable)."""
    if bench.scorer == "math":
        from r1kit.verify.math import extract_math_answer, verify_math_batch

        answers = [extract_math_answer(c) for c in completions]
        verdicts = verify_math_batch([(a, ex.answer) for a, ex in zip(answers, examples)])
    elif bench.scorer == "choice":
        from r1kit.rewards.choice import extract_choice

        answers = [extract_choice(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(ex.meta["choices"])])
                   for c, ex in zip(completions, examples)]
        verdicts = [float(a == ex.answer) for a, ex in zip(answers, examples)]
    elif bench.scorer == "code":
        from r1kit.rewards.code import code_rewards, extract_code

        answers = [extract_code(c) for c in completions]
        verdicts = code_rewards(completions, examples, mode="all")
    else:  # a synthetic task: its own parser and verifier, as in training
        answers = [parse_completion(c).answer for c in completions]
        verdicts = bench.task.verify_batch(answers, examples)
    return [(a, a is not None and v == 1.0) for a, v in zip(answers, verdicts)]


def equivalence(bench) -> Callable[[list[tuple[str, str]]], list[bool]] | None:
    """The batched "same answer?" check cons@k groups answers by; None where voting makes no sense (code)."""
    if bench.scorer == "math":
        from r1kit.verify.math import verify_math_batch

        return lambda pairs: [s == 1.0 for s in verify_math_batch(pairs)]
    if bench.scorer == "code":
        return None
    return lambda pairs: [a.strip() == b.strip() for a, b in pairs]
