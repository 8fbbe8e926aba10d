"""ArithmeticTask: disjoint seeded splits, integer answers, solutions that score as correct."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask, add_steps, mul_steps, sub_steps
from r1kit.data.templates import parse_completion
from r1kit.errors import R1kitError
from r1kit.rewards.format import format_reward
from r1kit.verify import score
from r1kit.verify.tasks import check_integer


def _key(ex):
    return (ex.meta["op"], min(ex.meta["a"], ex.meta["b"]), max(ex.meta["a"], ex.meta["b"]))


@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_splits_disjoint_across_seeds_and_sizes(op):
    train = {_key(e) for seed in (0, 1) for e in ArithmeticTask(digits=2, op=op, seed=seed).examples("train", 500)}
    test = {_key(e) for seed in (0, 2) for e in ArithmeticTask(digits=2, op=op, seed=seed).examples("test", 50)}
    assert test and train and not train & test


def test_deterministic_and_prefix_stable():
    a = ArithmeticTask(seed=3).examples("train", 20)
    b = ArithmeticTask(seed=3).examples("train", 50)
    assert a == b[:20]
    assert ArithmeticTask(seed=4).examples("train", 20) != a
    assert len({e.problem for e in b}) == 50  # distinct
    assert all(e.id == f"arith-train-{i:05d}" for i, e in enumerate(b))


def test_tiny_space_repeats_instead_of_hanging():
    ex = ArithmeticTask(digits=1, op="+").examples("test", 30)
    assert len(ex) == 30 and len({e.problem for e in ex}) < 30


def test_problem_and_answer():
    ex = ArithmeticTask(digits=5, op="-").examples("train", 100)
    for e in ex:
        a, b = e.meta["a"], e.meta["b"]
        assert e.problem == f"What is {a} - {b}?" and int(e.answer) == a - b >= 0
        assert 10_000 <= a <= 99_999 and 10_000 <= b <= 99_999


@pytest.mark.parametrize("answer,expected", [
    ("83703", 1.0), (" 83,703 ", 1.0), ("83 703", 1.0), ("+83703", 1.0), ("83704", 0.0), ("", 0.0),
    (None, 0.0), ("eighty", 0.0), ("8" * 5000, 0.0), ("83703.0", 0.0), ("\x00", 0.0),
])
def test_integer_check_table(answer, expected):
    ex = ArithmeticTask()._example("x", 50585, 33118)
    assert check_integer(answer, ex.answer) == expected


@pytest.mark.parametrize("op", ["+", "-", "*"])
@pytest.mark.parametrize("show_steps", [False, True])
def test_solution_round_trips(op, show_steps):
    task = ArithmeticTask(digits=5, op=op)
    for ex in task.examples("train", 30):
        text = task.solution(ex, show_steps=show_steps)
        parsed = parse_completion(text)
        assert parsed.answer == ex.answer and parsed.think_closed
        assert bool(parsed.reasoning) == show_steps
        assert format_reward(text) == 1.0
        assert [(v.answer, v.score) for v in score(task, [text], [ex])] == [(ex.answer, 1.0)]


def test_solution_shapes():
    task = ArithmeticTask()
    ex = task._example("x", 12345, 67890)
    assert task.solution(ex, show_steps=False) == " <think>\n</think> <answer>80235</answer>"
    assert task.solution(ex, show_steps=True) == (
        " <think>\ncolumn by column:\n5+0+0=05\n4+9+0=13\n3+8+1=12\n2+7+1=10\n1+6+1=08\n</think> <answer>80235</answer>"
    )


def test_step_traces_are_arithmetic():
    assert add_steps(999, 1) == ["9+1+0=10", "9+0+1=10", "9+0+1=10"]
    assert add_steps(12, 1) == ["2+1+0=03", "1+0+0=01"]  # fixed width: every look-up at a fixed offset
    assert sub_steps(1000, 1) == ["10-1-0=9", "10-0-1=9", "10-0-1=9", "1-0-1=0"]
    assert mul_steps(123, 45) == ["123*5=615", "123*4=492", "615+4920=5535"]


def test_bad_settings():
    with pytest.raises(R1kitError):
        ArithmeticTask(op="^")
    with pytest.raises(R1kitError):
        ArithmeticTask().examples("validation", 3)
