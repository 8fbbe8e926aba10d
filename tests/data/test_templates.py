"""Templates render as the report's Table 1 / the chat template; parse_completion tolerates real output."""

import time

import pytest

from r1kit.data.templates import (
    MATH_DIRECTIVE,
    R1_ZERO_TEMPLATE,
    Parsed,
    chat_template_for,
    parse_completion,
    recorded_template,
    render_chat,
    render_prompt,
    split_reasoning,
)
from r1kit.errors import R1kitError


def test_r1_zero_template_is_table_1():
    assert R1_ZERO_TEMPLATE == (
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
        "The assistant first thinks about the reasoning process in the mind and then provides the user with "
        "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
        "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
        "</answer>. User: {prompt}. Assistant:"
    )
    assert MATH_DIRECTIVE == "Please reason step by step, and put your final answer within \\boxed{}."


def test_render_r1_zero_and_custom():
    p = render_prompt("Is {x} a set?")  # braces in a problem must survive
    assert p.endswith("User: Is {x} a set?. Assistant:") and p.startswith("A conversation")
    assert render_prompt("2+2", "Q: {prompt}\nA:") == "Q: 2+2\nA:"


class _Tok:
    def __init__(self, suffix, chat_template="x"):
        self.suffix, self.chat_template = suffix, chat_template

    def apply_chat_template(self, messages, add_generation_prompt, tokenize, enable_thinking):
        assert messages == [{"role": "user", "content": "hi"}] and add_generation_prompt and not tokenize
        assert enable_thinking
        return "<|User|>hi<|Assistant|>" + self.suffix


@pytest.mark.parametrize("suffix", ["", "<think>", "<think>\n"])
def test_render_chat_ends_with_open_think(suffix):
    assert render_prompt("hi", "chat", _Tok(suffix)) == "<|User|>hi<|Assistant|><think>\n"


def test_render_errors():
    with pytest.raises(R1kitError, match="unknown template"):
        render_prompt("x", "r1")
    with pytest.raises(R1kitError, match="tokenizer"):
        render_prompt("x", "chat")
    with pytest.raises(R1kitError, match="chat template"):
        render_prompt("x", "chat", _Tok("", chat_template=None))


# ---- a prompt template recorded as a chat template (what a trained checkpoint carries) ----

@pytest.fixture(scope="module")
def r1_tok():
    """r1kit's default tokenizer with the R1-Zero template recorded as its chat template."""
    from r1kit.models import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = chat_template_for("r1_zero")
    return tok


def test_recorded_r1_zero_renders_table_1_and_opens_think(r1_tok):
    q = "What is {x} + 67890?"
    trained = render_prompt(q, "r1_zero")  # what the model was trained to continue with " <think>\n"
    assert render_chat([{"role": "user", "content": q}], r1_tok) == trained + " <think>\n"
    assert render_prompt(q, "chat", r1_tok) == trained + " <think>\n"
    # thinking off: the empty block the model writes before a direct answer (arithmetic.solution)
    assert render_chat([{"role": "user", "content": q}], r1_tok, thinking=False) == trained + " <think>\n</think>"
    assert recorded_template(r1_tok.chat_template) == "r1_zero"


def test_recorded_prompt_tokenizes_as_training_saw_it(r1_tok):
    """SFT/GRPO tokenize prompt and completion apart; the chat prompt must be the same token ids."""
    from r1kit.data.tasks import get_task

    task = get_task("arithmetic", digits=5)
    ex = task.examples("test", 1)[0]
    prompt = r1_tok(render_prompt(ex.problem, "r1_zero"), add_special_tokens=False)["input_ids"]
    completion = r1_tok(task.solution(ex, show_steps=True), add_special_tokens=False)["input_ids"]
    chat = r1_tok(render_chat([{"role": "user", "content": ex.problem}], r1_tok), add_special_tokens=False)["input_ids"]
    assert chat == (prompt + completion)[: len(chat)] and len(chat) == len(prompt) + 3  # " ", "<think>", "\n"


def test_recorded_conversation_and_system(r1_tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 1"},
                {"role": "assistant", "content": "one and one\n</think> <answer>2</answer>"},
                {"role": "user", "content": "2 + 2"}]
    first, second = render_prompt("Be brief.\n\n1 + 1", "r1_zero"), render_prompt("2 + 2", "r1_zero")
    assert render_chat(messages, r1_tok) == (
        first + " <think>\n</think> <answer>2</answer><|endoftext|>" + second + " <think>\n")


@pytest.mark.parametrize("template", ['Q "{prompt}" \\ %} {{ x }} {% if %} 😀 TEMPLATE THINK\nA:', "{prompt}"])
def test_recorded_custom_template_round_trips(r1_tok, template):
    import copy

    tok = copy.copy(r1_tok)
    tok.chat_template = chat_template_for(template)
    q = "Is {y} 3?"
    assert render_chat([{"role": "user", "content": q}], tok) == render_prompt(q, template) + " <think>\n"
    assert recorded_template(tok.chat_template) == "custom"


def test_chat_template_for_chat_and_unknown():
    assert chat_template_for("chat") is None and recorded_template(None) is None
    with pytest.raises(R1kitError, match="unknown template"):
        chat_template_for("r1")


@pytest.mark.parametrize("text,expected", [
    (" <think>\nr\n</think> <answer>5</answer>", Parsed("r", "5", True)),
    ("r\n</think> <answer>5</answer>", Parsed("r", "5", True)),  # opening tag in the prompt
    ("r\n</think>\nThe answer is 5.", Parsed("r", "The answer is 5.", True)),  # chat style
    ("just text 5", Parsed(None, None, False)),  # no tags
    ("<answer>5</answer>", Parsed(None, "5", False)),
    ("<think>a</think><answer>1</answer> <answer>2</answer>", Parsed("a", "2", True)),  # last block wins
    ("<think>still thinking <answer>3", Parsed("still thinking <answer>3", None, False)),  # unclosed think
    ("<think>a</think> <answer>4", Parsed("a", None, True)),  # answer cut off
    ("<think>a</think> <answer>7</answer><|endoftext|><answer>9</answer>", Parsed("a", "7", True)),
    ("<think>a</think>   <|endoftext|>", Parsed("a", None, True)),
    ("<think></think><answer></answer>", Parsed("", None, True)),
    ("<think>a</think>x</think> <answer>6</answer>", Parsed("a</think>x", "6", True)),
    ("<think><answer>3</answer></think> 5", Parsed("<answer>3</answer>", "5", True)),  # an answer inside reasoning is not final
    ("<think>x <answer>3</answer>", Parsed("x <answer>3</answer>", None, False)),  # unclosed think: no final answer
    ("", Parsed(None, None, False)),
    (None, Parsed(None, None, False)),
])
def test_parse_completion_table(text, expected):
    assert parse_completion(text) == expected


@pytest.mark.parametrize("text,think_open,expected", [
    ("<think>r</think> 42", False, ("r", "42")),
    (" <think>\nr\n</think> <answer>5</answer>", False, ("r", "<answer>5</answer>")),
    ("r</think> 42", False, ("r", "42")),  # the prompt opened the block
    ("r</think> 42", True, ("r", "42")),
    ("<think>still going \\boxed{3}", False, ("still going \\boxed{3}", None)),  # opened, never closed
    ("still going \\boxed{3}", True, ("still going \\boxed{3}", None)),  # opened by the prompt (R1 chat form)
    ("still going \\boxed{3}", False, (None, "still going \\boxed{3}")),  # no reasoning block at all
    ("a</think>b</think> c ", False, ("a</think>b", "c")),  # the final part follows the last </think>
    ("<think>r</think> 7<|endoftext|> 8</think> 9", False, ("r", "7")),  # nothing after eos counts
    ("<think>r</think>", True, ("r", "")),  # closed, empty final part: "" (not None)
    ("", False, (None, "")),
    ("", True, ("", None)),
    (None, False, (None, None)),
])
def test_split_reasoning_table(text, think_open, expected):
    assert split_reasoning(text, think_open) == expected


def test_parse_completion_with_think_open():
    assert parse_completion("so <answer>5</answer>", think_open=True) == Parsed("so <answer>5</answer>", None, False)
    assert parse_completion("so <answer>5</answer>") == Parsed(None, "5", False)
    assert parse_completion("so</think> 5", think_open=True) == Parsed("so", "5", True)


def test_parse_completion_is_linear_on_huge_input():
    for text in ("<think>" * 200_000, "</answer><answer>" * 100_000, "x" * 1_000_000 + "</think>" + "y" * 10):
        start = time.perf_counter()
        parse_completion(text)
        split_reasoning(text, think_open=True)
        assert time.perf_counter() - start < 0.5


def test_recorded_template_keeps_the_trained_turns_reasoning(r1_tok):
    """The last assistant turn (what SFT trains) keeps its reasoning, in the form the base model was pretrained
    on; a turn before a later user turn loses it, as at inference."""
    from r1kit.data.tasks import get_task

    task = get_task("arithmetic", digits=3)
    ex = task.examples("test", 1)[0]
    worked = task.solution(ex, show_steps=True)            # " <think>\n...\n</think> <answer>N</answer>"
    reasoning = worked.split("</think>")[0].replace("<think>", "").strip()
    answer = worked.split("</think>")[1].strip()
    messages = [{"role": "user", "content": ex.problem},
                {"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"}]
    text = r1_tok.apply_chat_template(messages, tokenize=False)
    assert text == render_prompt(ex.problem, "r1_zero") + worked + r1_tok.eos_token
    later = r1_tok.apply_chat_template(messages + [{"role": "user", "content": "and 1 + 1"}], tokenize=False)
    assert reasoning not in later and f" <think>\n</think> {answer}{r1_tok.eos_token}" in later
