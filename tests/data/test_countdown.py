"""CountdownTask: solvable puzzles, TinyZero phrasing, and the each-number-once rule."""

import time

import pytest

from r1kit.data.countdown import CountdownTask
from r1kit.data.templates import parse_completion
from r1kit.data.base import Example
from r1kit.verify import score
from r1kit.verify.tasks import check_countdown


def _ex(numbers, target):
    return Example("c", "", "", {"numbers": numbers, "target": target})


def test_puzzles_are_solvable_and_phrased():
    task = CountdownTask(n_numbers=4)
    for ex in task.examples("train", 50):
        assert len(ex.meta["numbers"]) == 4 and 1 <= ex.meta["target"] <= 999
        assert check_countdown(ex.answer, ex.meta) == 1.0  # the construction is a solution
        assert ex.problem == (
            f"Using the numbers {ex.meta['numbers']}, create an equation that equals {ex.meta['target']}. "
            "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once."
        )


def test_splits_disjoint_and_deterministic():
    key = lambda e: (tuple(sorted(e.meta["numbers"])), e.meta["target"])  # noqa: E731
    task = CountdownTask(n_numbers=3, max_number=20, max_target=50)
    train = {key(e) for e in task.examples("train", 500)}
    test = {key(e) for e in CountdownTask(n_numbers=3, max_number=20, max_target=50, seed=7).examples("test", 100)}
    assert train and test and not train & test
    assert task.examples("test", 10) == CountdownTask(n_numbers=3, max_number=20, max_target=50).examples("test", 10)


@pytest.mark.parametrize("answer,expected", [
    ("(44 + 19) - 35", 1.0),
    ("44 + 19 - 35 = 28", 1.0),  # "expr = target": left side used
    ("19 + 44 - 35", 1.0),
    ("44 × 1 + 19 − 35", 0.0),  # 1 is not a given number
    ("44 + 19", 0.0),  # a number unused
    ("44 + 44 - 35 - 25", 0.0),  # a number reused
    ("44 + 19 - 35 + 0", 0.0),  # an extra literal
    ("44 + 19 - 35 + 1", 0.0),  # wrong value
    ("44 / (19 - 19) + 35", 0.0),  # division by zero
    ("__import__('os').system('echo hi')", 0.0),
    ("2**999999", 0.0),
    ("44+19-35" + " " * 300, 0.0),  # too long
    ("(" * 80 + "44+19-35" + ")" * 80, 1.0),  # redundant parentheses are harmless
    ("(" * 150 + "44+19-35" + ")" * 150, 0.0),  # nesting bomb: over the length bound
    ("-" * 100 + "44+19-35", 0.0),  # unary-minus bomb: over the depth bound
    ("", 0.0),
    (None, 0.0),
    ("\x00", 0.0),
])
def test_check_table(answer, expected):
    start = time.perf_counter()
    assert check_countdown(answer, _ex([44, 19, 35], 28).meta) == expected
    assert time.perf_counter() - start < 0.05


def test_division_is_exact():
    assert check_countdown("(7 / 2) * 4 - 6", _ex([7, 2, 4, 6], 8).meta) == 1.0
    assert check_countdown("7 / 2 + 4", _ex([7, 2, 4], 7).meta) == 0.0  # 7.5


def test_score_from_completion():
    text = " <think>\n44+19=63, 63-35=28\n</think> <answer>(44 + 19) - 35</answer>"
    assert parse_completion(text).answer == "(44 + 19) - 35"
    (verdict,) = score(CountdownTask(), [text], [_ex([44, 19, 35], 28)])
    assert (verdict.answer, verdict.score) == ("(44 + 19) - 35", 1.0)


def test_malformed_example_cannot_be_checked():
    # no numbers/target: the sample is skipped (None), not scored right or wrong
    assert check_countdown("1 + 2", Example("c", "", "", {}).meta) is None
    assert score(CountdownTask(), ["<think></think><answer>1 + 2</answer>"], [Example("c", "", "", {})])[0].score is None
