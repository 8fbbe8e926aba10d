"""format_reward: the strict R1-Zero tag structure, table-driven."""

import time

import pytest

from r1kit.rewards.format import format_reward


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
