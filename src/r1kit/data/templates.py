"""Prompt templates and completion parsing for the R1 tag format.

    render_prompt("What is 2 + 3?")          # DeepSeek-R1 report, Table 1 (R1-Zero template)
    parse_completion(" <think>\\n2+3+0=5\\n</think> <answer>5</answer>")
        # Parsed(reasoning='2+3+0=5', answer='5', think_closed=True)

Parsing is deliberately tolerant (rewards decide how strict to be): the opening <think> may be
missing because the template or chat generation prompt already supplied it, and text after an
end-of-sequence token is ignored. All scans are plain `str.find`/`rfind` (linear time), so a
megabyte of model output cannot trigger regex backtracking.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1kit.errors import R1kitError

# DeepSeek-R1 report (arXiv 2501.12948), Table 1, verbatim; {prompt} is the question.
R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user "
    "with the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>. User: {prompt}. Assistant:"
)
# The directive DeepSeek recommends for math prompts (R1 model card, usage recommendations).
MATH_DIRECTIVE = "Please reason step by step, and put your final answer within \\boxed{}."

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
# End-of-sequence / padding markers of common tokenizers (r1kit, Qwen, Llama, DeepSeek).
EOS_MARKERS = (
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "</s>",
    "<｜end▁of▁sentence｜>", "<|pad|>",
)


@dataclass(frozen=True)
class Parsed:
    reasoning: str | None  # text inside <think>…</think> (or before </think>); None if no think tag
    answer: str | None  # the extracted answer text, stripped; None if there is none
    think_closed: bool  # whether </think> occurs (an unclosed think means no final answer)


def render_prompt(problem: str, template: str = "r1_zero", tokenizer=None) -> str:
    """The model input for `problem`.

    "r1_zero": Table 1 text, ending in "Assistant:".  "chat": the tokenizer's chat template with
    the problem as the only (user) message and the generation prompt, ending in "<think>\\n"
    (appended when the template does not open the think block itself, as R1's template does).
    Any other string containing "{prompt}" is a custom template.
    """
    if template == "r1_zero":
        return R1_ZERO_TEMPLATE.replace("{prompt}", problem)  # not .format: problems contain braces
    if template == "chat":
        return _render_chat(problem, tokenizer)
    if "{prompt}" in template:
        return template.replace("{prompt}", problem)
    raise R1kitError(f"unknown template {template!r}: use 'r1_zero', 'chat' or a string containing '{{prompt}}'")


def _render_chat(problem: str, tokenizer) -> str:
    if tokenizer is None:
        raise R1kitError("template 'chat' needs a tokenizer")
    if not getattr(tokenizer, "chat_template", None):
        raise R1kitError("template 'chat': the tokenizer has no chat template")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": problem}], add_generation_prompt=True, tokenize=False
    )
    if text.endswith("<think>\n"):
        return text
    return text + ("\n" if text.endswith("<think>") else "<think>\n")


def cut_at_eos(text: str) -> str:
    """`text` up to the first end-of-sequence marker: what follows was never part of the answer."""
    end = len(text)
    for marker in EOS_MARKERS:
        i = text.find(marker, 0, end)
        if i != -1:
            end = i
    return text[:end]


def strip_eos_tail(text: str) -> str:
    """`text` with trailing whitespace and end-of-sequence markers removed (repeatedly)."""
    while True:
        stripped = text.rstrip()
        for marker in EOS_MARKERS:
            if stripped.endswith(marker):
                stripped = stripped[: -len(marker)]
        if stripped == text:
            return text
        text = stripped


def last_answer_block(text: str) -> str | None:
    """Content of the last complete <answer>…</answer>, stripped; None if there is none."""
    end = text.rfind(ANSWER_CLOSE)
    if end == -1:
        return None
    start = text.rfind(ANSWER_OPEN, 0, end)
    return None if start == -1 else text[start + len(ANSWER_OPEN) : end].strip()


def split_reasoning(text: str, think_open: bool = False) -> tuple[str | None, str | None]:
    """(reasoning, final): THE split of a completion into its reasoning and its final part.

        "<think>r</think> 42"                -> ("r", "42")
        "r</think> 42"                       -> ("r", "42")            the prompt opened the block
        "<think>still going"                 -> ("still going", None)  opened, never closed
        "still going", think_open=True       -> ("still going", None)  the prompt opened it (R1 chat form)
        "42"                                 -> (None, "42")           no reasoning block at all

    The final part is the text after the *last* </think>; it is None exactly when a reasoning block
    was opened (in the completion, or by the prompt: `think_open`) and never closed, i.e. the model
    has not finished reasoning and has given no final answer. Text after an end-of-sequence marker
    is dropped first; both parts are stripped. Linear time; never raises (a non-string: (None, None)).
    """
    if not isinstance(text, str):
        return None, None
    text = cut_at_eos(text)
    close = text.rfind(THINK_CLOSE)
    if close == -1:
        open_ = text.find(THINK_OPEN)
        if open_ != -1:
            return text[open_ + len(THINK_OPEN) :].strip(), None
        return (text.strip(), None) if think_open else (None, text.strip())
    open_ = text.find(THINK_OPEN, 0, close)  # optional: a prompt ending in "<think>\n" supplies it
    start = open_ + len(THINK_OPEN) if open_ != -1 else 0
    return text[start:close].strip(), text[close + len(THINK_CLOSE) :].strip()


def parse_completion(text: str, think_open: bool = False) -> Parsed:
    """Reasoning and tag-format answer of a completion, on `split_reasoning`. Never raises.

    answer: the last <answer>…</answer> block of the final part; else, when a reasoning block was
    closed, the whole final part (None if it holds an unclosed <answer>: the answer was cut off);
    else None. An empty answer is None; an unclosed reasoning block has no answer.
    """
    reasoning, final = split_reasoning(text, think_open)
    think_closed = reasoning is not None and final is not None
    if final is None:
        return Parsed(reasoning, None, False)
    answer = last_answer_block(final)
    if answer is None and think_closed:
        answer = None if ANSWER_OPEN in final else final
    return Parsed(reasoning, answer or None, think_closed)
