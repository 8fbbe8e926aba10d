"""The user turn per benchmark kind, following DeepSeek's usage recommendations for R1.

No system prompt; the user turn is the problem, for math followed by "Please reason step by step,
and put your final answer within \\boxed{}."; multiple choice (GPQA) in OpenAI simple-evals' format;
the response is forced to begin with "<think>\\n" by the chat template (local) or the server.
Scoring is not here: every sample is scored by r1kit.verify, as the training reward is.

    user_prompt(task, example)                  # the text of the user turn
"""

from __future__ import annotations

from r1kit.data.templates import MATH_DIRECTIVE

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# OpenAI simple-evals, QUERY_TEMPLATE_MULTICHOICE (GPQA), generalised to any number of choices.
CHOICE_TEMPLATE = ("Answer the following multiple choice question. The last line of your response should be of "
                   "the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. "
                   "Think step by step before answering.\n\n{problem}\n\n{choices}")
MATH_TEMPLATE = "{problem}\n" + MATH_DIRECTIVE


def user_prompt(task, example, template: str = "") -> str:
    """The user turn for `example` of `task` (by `task.scorer`). `template` overrides the default:
    "{problem}" is replaced by the problem text (and, for multiple choice, "{choices}" and "{letters}").
    Synthetic tasks and code ask the problem as it is, as training does."""
    if task.scorer == "choice":
        choices = example.meta["choices"]
        letters = LETTERS[: len(choices)]
        listed = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, choices))
        text = template or CHOICE_TEMPLATE
        return text.replace("{letters}", letters).replace("{choices}", listed).replace("{problem}", example.problem)
    default = MATH_TEMPLATE if task.scorer == "math" else "{problem}"
    return (template or default).replace("{problem}", example.problem)
