"""Multiple-choice extraction: the last stated letter after the reasoning, in every supported form."""

import time

import pytest

from r1kit.data.base import Example
from r1kit.rewards.choice import choice_reward, extract_choice, verify_choice


@pytest.mark.parametrize("text,expected", [
    ("Answer: C", "C"),
    ("The answer is (B).", "B"),
    ("the correct answer is D", "D"),
    ("Answer: **A**", "A"),
    ("Answer: $\\text{B}$", "B"),
    ("so \\boxed{C}", "C"),
    ("so \\boxed{(D)}", "D"),
    ("so \\boxed{\\text{A}}", "A"),
    ("<answer> (b) </answer>", "B"),
    ("Answer: A ... on reflection, Answer: D", "D"),  # the last statement wins
    ("\\boxed{A} but the answer is (C)", "C"),
    ("the answer is (C), not \\boxed{B}", "B"),
    ("<think>Answer: A</think> Answer: B", "B"),  # reasoning ignored
    ("<think>Answer: A</think> I am not sure.", None),
    ("Answer: Because the field is zero", None),  # a word, not a letter
    ("the answer is a bit unclear", None),  # lower-case article, not a choice
    ("no choice here", None),
    ("", None),
    (None, None),
])
def test_extract_table(text, expected):
    assert extract_choice(text) == expected


def test_letters_restrict_the_choices():
    assert extract_choice("Answer: E") == "E"
    assert extract_choice("Answer: E", letters="ABCD") is None
    assert extract_choice("Answer: B then Answer: E", letters="ABCD") == "B"


@pytest.mark.parametrize("gold,expected", [("C", 1.0), ("(C)", 1.0), ("Answer: C", 1.0), ("c", 1.0), ("B", 0.0),
                                           ("", None), ("not a letter", None), (None, None)])
def test_verify_against_gold_forms(gold, expected):
    assert verify_choice("The answer is (C).", gold) == expected


def test_reward_contract():
    ex = Example("q", "Which?", "B")
    assert choice_reward("Answer: B", ex) == 1.0
    assert choice_reward("Answer: A", ex) == 0.0
    assert choice_reward(12345, ex) == 0.0
    assert choice_reward("Answer: B", Example("q", "Which?", "??")) is None


@pytest.mark.parametrize("text", [
    "Answer: " * 200_000, "answer is (" * 100_000, "\\boxed{" * 150_000, "x" * 1_000_000 + "Answer: B",
    "Answer:\x00B", "\udcff Answer: B",
])
def test_hostile_text_is_fast_and_safe(text):
    start = time.perf_counter()
    result = extract_choice(text)
    assert result in (None, "A", "B")
    assert time.perf_counter() - start < 0.5
