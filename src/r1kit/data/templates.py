"""Prompt templates and completion parsing for the R1 tag format.

    render_prompt("What is 2 + 3?")          # DeepSeek-R1 report, Table 1 (R1-Zero template)
    render_chat(messages, tokenizer)         # the chat template; the response opens "<think>\n"
    chat_template_for("r1_zero")             # that template as a chat template, for a checkpoint to carry
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
    return render_chat([{"role": "user", "content": problem}], tokenizer, thinking=True)


def render_chat(messages: list[dict], tokenizer, thinking: bool = True) -> str:
    """`messages` through the tokenizer's chat template, with the generation prompt: THE one place
    that opens (or closes) the think block of a chat prompt.

    thinking=True: the text ends in "<think>\\n" (appended when the template does not open the block
    itself, as R1's does), so the response starts inside the reasoning. thinking=False: the template
    gets enable_thinking=False; one that opens the block anyway gets it closed empty
    ("<think>\\n\\n</think>\\n\\n", Qwen3's form). R1kitError when the tokenizer has no chat template
    or the template rejects the messages (jinja's raise_exception).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise R1kitError("the tokenizer has no chat template")
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             enable_thinking=thinking)
    except Exception as e:  # jinja TemplateError, or a TypeError inside a template: the messages' fault
        raise R1kitError(f"the chat template rejected the messages: {e}") from None
    opened = text.endswith(THINK_OPEN) or text.endswith(THINK_OPEN + "\n")
    if thinking:
        return text if text.endswith(THINK_OPEN + "\n") else text + ("\n" if opened else THINK_OPEN + "\n")
    if not opened:
        return text
    return text + ("\n" if text.endswith("\n") else "\n\n") + THINK_CLOSE + "\n\n"


# The response prefix a prompt template's model was trained to write first: arithmetic.solution and
# the report's Table 1 put a space, then "<think>\n", after "Assistant:".
TEMPLATE_THINK_PREFIX = " " + THINK_OPEN + "\n"

_PROMPT_CHAT_TEMPLATE = """{%- set ns = namespace(system='', last_user=-1) -%}
{%- for m in messages -%}
{%- if m['role'] == 'system' -%}{%- set ns.system = ns.system + m['content'] + '\\n\\n' -%}{%- endif -%}
{%- if m['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- for m in messages -%}
{%- if m['role'] == 'user' -%}
{{- template.replace('{prompt}', ns.system + m['content']) -}}
{%- set ns.system = '' -%}
{%- elif m['role'] == 'assistant' -%}
{%- set answer = m['content'].split('</think>')[-1].lstrip() -%}
{%- set reasoning = m['content'].split('</think>')[0].replace('<think>', '').strip() if '</think>' in m['content'] else '' -%}
{%- if reasoning and loop.index0 > ns.last_user -%}
{{- think + reasoning + '\\n</think> ' + answer + (eos_token or '') -}}
{%- else -%}
{{- think + '</think> ' + answer + (eos_token or '') -}}
{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- think -}}
{%- if enable_thinking is defined and not enable_thinking -%}{{- '</think>' -}}{%- endif -%}
{%- endif -%}"""


_RECORD_MARK = "{#- r1kit prompt template: "


def recorded_template(chat_template: str | None) -> str | None:
    """"r1_zero" or "custom" for a chat template written by `chat_template_for`; None otherwise."""
    if not chat_template or not chat_template.startswith(_RECORD_MARK):
        return None
    return chat_template[len(_RECORD_MARK) :].split(" ", 1)[0]


def chat_template_for(template: str) -> str | None:
    """The Jinja chat template that records prompt template `template` in a tokenizer; None for "chat"
    (the tokenizer's own template is already the recorded form).

    One user message renders exactly as `render_prompt(content, template)`, followed by the generation
    prompt TEMPLATE_THINK_PREFIX (the tokens the model was trained to write next), so
    `render_chat(messages, tok)` equals render_prompt(...) + " <think>\\n". enable_thinking=False gives
    " <think>\\n</think>": the empty think block the model writes before a direct answer. System
    messages are prefixed to the first user turn. A conversation repeats the template per user turn;
    an assistant turn is written as the prefix, "</think> ", its content without reasoning, and eos, except
    a turn after the last user turn (the one SFT trains), which keeps its reasoning as the model wrote it:
    the prefix, the reasoning, "\\n</think> ", the answer, eos (R1's rule: history turns lose their reasoning).
    """
    import json

    if template == "chat":
        return None
    body = R1_ZERO_TEMPLATE if template == "r1_zero" else template
    if "{prompt}" not in body:
        render_prompt("", template)  # raises the unknown-template error
    name = template if template == "r1_zero" else "custom"
    # JSON string literals are Jinja string literals (same escapes); ensure_ascii=False keeps
    # characters outside the BMP whole instead of as surrogate pairs.
    return (f"{_RECORD_MARK}{name} -#}}\n"
            f"{{%- set template = {json.dumps(body, ensure_ascii=False)} -%}}\n"
            f"{{%- set think = {json.dumps(TEMPLATE_THINK_PREFIX)} -%}}\n" + _PROMPT_CHAT_TEMPLATE)


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


def opens_think(prompt: str) -> bool:
    """True when `prompt` ends inside an opened <think> block (the R1 chat form ends in "<think>\\n"), so the
    completion starts in the reasoning: the `think_open` that `split_reasoning` and the verifiers take."""
    return prompt.rfind(THINK_OPEN) > prompt.rfind(THINK_CLOSE)


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
