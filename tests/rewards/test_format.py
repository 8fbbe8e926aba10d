"""The format rewards: strict and lenient R1-Zero, and the R1 chat form, table-driven."""

import time

import pytest

from r1kit.rewards.context import RewardContext
from r1kit.rewards.format import chat_format_reward, format_lenient_reward, format_reward


@pytest.mark.parametrize("text,score", [
    ("<think>r</think> <answer>5</answer>", 1.0),
    (" <think>\nr\n</think> <answer>5</answer>", 1.0),
    ("\n<think></think><answer>5</answer>\n", 1.0),  # empty reasoning is allowed
    ("<think>r</think> <answer>5</answer><|endoftext|>", 1.0),
    ("<think>r</think> <answer>5</answer><|endoftext|><|pad|><|pad|>", 1.0),
    ("r</think> <answer>5</answer>", 0.0),  # opening tag required by default
    ("<think>r</think> <answer>5</answer> trailing", 0.0),
    ("lead <think>r</think> <answer>5</answer>", 0.0),
    ("<think>r</think> text <answer>5</answer>", 0.0),
    ("<think>r</think> <answer> </answer>", 0.0),  # empty answer
    ("<think>r</think> <answer>5", 0.0),
    ("<think>r <answer>5</answer>", 0.0),
    ("<think>r</think> <answer>5</answer><answer>6</answer>", 0.0),
    ("<think>a<think>r</think> <answer>5</answer>", 0.0),
    ("<think>r</think></think> <answer>5</answer>", 0.0),
    ("<answer>5</answer>", 0.0),
    ("", 0.0),
    (None, 0.0),
])
def test_format_table(text, score):
    assert format_reward(text, None, None) == score


def test_open_think_optional_flag():
    assert format_reward("r\n</think> <answer>5</answer>", None, None, open_think_optional=True) == 1.0
    assert format_reward("<think>r</think> <answer>5</answer>", None, None, open_think_optional=True) == 1.0
    assert format_reward("r <answer>5</answer>", None, None, open_think_optional=True) == 0.0


def test_linear_on_huge_input():
    for text in ("<think>" + "x" * 1_000_000 + "</think> <answer>1</answer>", "<think>" * 150_000, " " * 1_000_000):
        start = time.perf_counter()
        format_reward(text)
        assert time.perf_counter() - start < 0.5


# ---- format_lenient_reward and chat_format_reward, side by side with the strict form ----

# (completion, strict, lenient, chat)
CASES = [
    ("<think>r</think> <answer>5</answer>", 1.0, 1.0, 1.0),  # chat: answer tags are allowed in the answer
    ("<think>r</think>\n<answer>5</answer><|im_end|>", 1.0, 1.0, 1.0),
    ("r\n</think>\n\nThe answer is 5.", 0.0, 0.0, 1.0),  # the chat form proper
    ("r\n</think>\n\n5<|im_end|><|pad|>", 0.0, 0.0, 1.0),
    ("<think>\nr\n</think>\n5", 0.0, 0.0, 1.0),  # a leading <think> is tolerated by chat
    ("\n</think>\n5", 0.0, 0.0, 1.0),  # empty reasoning
    ("lead <think>r</think> mid <answer>5</answer> tail", 0.0, 1.0, 0.0),  # extra text: lenient only
    ("<think>r</think> <answer>5</answer> trailing", 0.0, 1.0, 1.0),
    ("<think>r</think> <answer> </answer>", 0.0, 0.0, 0.0),  # empty answer, tags or not
    ("<think>r</think>   <|im_end|>", 0.0, 0.0, 0.0),  # nothing after </think>
    ("r</think> <answer>\n</answer>", 0.0, 0.0, 0.0),
    ("r\n</think> <|im_end|>5", 0.0, 0.0, 0.0),  # the answer after eos was never generated
    ("<think>r</think> <answer>5", 0.0, 0.0, 1.0),  # unclosed answer tag: chat reads free text "5"
    ("<answer>5</answer><think>r</think>", 0.0, 0.0, 0.0),  # reordered
    ("<think>r <answer>5</answer></think>", 0.0, 0.0, 0.0),  # answer inside the think block
    ("<think>r</think> <answer>5</answer><answer>6</answer>", 0.0, 1.0, 1.0),  # duplicated answer
    ("<think>a<think>r</think> <answer>5</answer>", 0.0, 1.0, 0.0),  # duplicated <think>
    ("r</think> x </think> 5", 0.0, 0.0, 0.0),  # two </think>
    ("<think>r</think> 5 <think>again</think> 6", 0.0, 0.0, 0.0),  # a second think block
    ("a <think> r </think> 5", 0.0, 0.0, 0.0),  # chat: <think> only at the very start
    ("<think>r", 0.0, 0.0, 0.0),  # cut off mid-reasoning
    ("just an answer", 0.0, 0.0, 0.0),
    ("", 0.0, 0.0, 0.0),
    (None, 0.0, 0.0, 0.0),
    (123, 0.0, 0.0, 0.0),
    (b"<think>r</think><answer>5</answer>", 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("text,strict,lenient,chat", CASES)
def test_strict_lenient_chat_table(text, strict, lenient, chat):
    assert format_reward(text, None, None) == strict
    assert format_lenient_reward(text, None, RewardContext()) == lenient
    assert chat_format_reward(text, None, RewardContext()) == chat


def test_strict_ignores_a_context_in_third_position():
    assert format_reward("<think>r</think> <answer>5</answer>", None, RewardContext(num_tokens=3)) == 1.0


def test_lenient_open_think_optional_flag():
    assert format_lenient_reward("r</think> <answer>5</answer>", None, None) == 0.0
    assert format_lenient_reward("r</think> <answer>5</answer>", None, None, open_think_optional=True) == 1.0
    assert format_lenient_reward("r <answer>5</answer>", None, None, open_think_optional=True) == 0.0


def test_chat_allows_answer_tags_in_the_answer():
    assert chat_format_reward("r</think> <answer>5</answer>", None, None) == 1.0


@pytest.mark.parametrize("fn", [format_reward, format_lenient_reward, chat_format_reward])
def test_hostile_inputs_are_fast_and_never_raise(fn):
    hostile = [
        "<think>" + "x" * 1_000_000 + "</think> <answer>1</answer>",
        "<think>" * 150_000,
        "</think>" * 120_000,
        "<answer>" * 100_000 + "</answer>" * 100_000,
        " " * 1_000_000,
        "<think>r\x00</think>\x00<answer>\x005</answer>",
        "<think>\ud800</think><answer>\udfff</answer>",  # lone surrogates
        "<think>\u202e\ufeff\U0010ffff</think><answer>\u0301</answer>",
    ]
    start = time.perf_counter()
    for text in hostile:
        assert fn(text, None, None) in (0.0, 1.0)
    assert time.perf_counter() - start < 0.5
