"""cosine_scaled / cosine_length_reward(s) and overlong_penalty(_reward): hand-computed values."""

import math

import pytest

from r1kit.data.base import Example, Task
from r1kit.rewards.context import RewardContext
from r1kit.rewards.length import (
    cosine_length_reward,
    cosine_length_rewards,
    cosine_scaled,
    overlong_penalty,
    overlong_penalty_reward,
)

RIGHT, WRONG = "<think>r</think> <answer>5</answer>", "<think>r</think> <answer>6</answer>"
EX = Example("x", "2 + 3", "5", {})


class _Task(Task):
    """Integer answers (r1kit.verify's "arithmetic" check); gold "?" cannot be checked (None).
    `calls` records the answers each check saw (the fixture below)."""

    scorer = "arithmetic"

    def __init__(self):
        self.calls = []


@pytest.fixture(autouse=True)
def _record_checks(monkeypatch):
    from r1kit.verify import scoring

    check = scoring.CHECKS["arithmetic"]

    def recording(task, answers, examples):
        getattr(task, "calls", []).append(list(answers))
        return check(task, answers, examples)

    monkeypatch.setitem(scoring.CHECKS, "arithmetic", recording)


# ---- cosine_scaled: R = rL + 1/2 (r0 - rL)(1 + cos(pi t / T)); defaults 2 -> 1 correct, -10 -> 0 wrong ----

@pytest.mark.parametrize("correct,t,expected", [
    (True, 0, 2.0), (True, 25, 1.0 + 0.5 * (1 + math.sqrt(0.5))), (True, 50, 1.5), (True, 100, 1.0),
    (False, 0, -10.0), (False, 50, -5.0), (False, 100, 0.0), (False, 75, -5.0 * (1 - math.sqrt(0.5))),
    (True, 101, -10.0), (False, 10_000, -10.0),  # beyond T: r_exceed
])
def test_cosine_scaled_hand_values(correct, t, expected):
    assert cosine_scaled(correct, t, 100) == pytest.approx(expected, abs=1e-12)


def test_cosine_scaled_endpoints_exact_and_options():
    assert cosine_scaled(True, 0, 7) == 2.0 and cosine_scaled(True, 7, 7) == 1.0
    assert cosine_scaled(False, 0, 7) == -10.0 and cosine_scaled(False, 7, 7) == 0.0
    assert cosine_scaled(True, 10, 10, truncated=True) == -10.0  # the paper's "L_gen = L_max" case
    assert cosine_scaled(True, 1, 10, truncated=True, r_exceed=-3.0) == -3.0
    values = dict(r0_correct=4.0, rL_correct=2.0, r0_wrong=-1.0, rL_wrong=-3.0)
    assert cosine_scaled(True, 5, 10, **values) == pytest.approx(3.0)
    assert cosine_scaled(False, 5, 10, **values) == pytest.approx(-2.0)


def test_cosine_is_monotone_in_length():
    correct = [cosine_scaled(True, t, 64) for t in range(65)]
    wrong = [cosine_scaled(False, t, 64) for t in range(65)]
    assert correct == sorted(correct, reverse=True) and wrong == sorted(wrong)
    assert min(correct) > max(wrong)  # right always beats wrong with the paper's values


# ---- cosine_length_reward(s): correctness from the task, length from the context ----

def test_cosine_length_reward():
    task = _Task()
    ctx = RewardContext(task=task, num_tokens=50, max_tokens=100)
    assert cosine_length_reward(RIGHT, EX, ctx) == pytest.approx(1.5)
    assert cosine_length_reward(WRONG, EX, ctx) == pytest.approx(-5.0)
    assert cosine_length_reward("no answer", EX, ctx) == pytest.approx(-5.0)
    assert cosine_length_reward(RIGHT, EX, ctx, r0_correct=3.0) == pytest.approx(2.0)
    assert cosine_length_reward(RIGHT, EX, RewardContext(task=task, num_tokens=50), max_len=200) == pytest.approx(
        1.0 + 0.5 * (1 + math.sqrt(0.5))
    )
    assert cosine_length_reward(RIGHT, EX, RewardContext(task=task, num_tokens=100, max_tokens=100)) == 1.0


def test_cosine_over_budget_skips_the_correctness_check():
    task = _Task()
    truncated = RewardContext(task=task, num_tokens=100, max_tokens=100, truncated=True)
    assert cosine_length_reward(RIGHT, EX, truncated) == -10.0
    assert cosine_length_reward(RIGHT, EX, RewardContext(task=task, num_tokens=101), max_len=100) == -10.0
    assert task.calls == []


@pytest.mark.parametrize("ctx", [
    RewardContext(task=_Task(), num_tokens=None, max_tokens=100),  # length unknown
    RewardContext(task=_Task(), num_tokens=50, max_tokens=None),  # budget unknown
    RewardContext(task=_Task(), num_tokens=50, max_tokens=0),
    RewardContext(task=None, num_tokens=50, max_tokens=100),  # no task: correctness unknown
    None,
    "a task in the old third position",
])
def test_cosine_does_not_apply(ctx):
    assert cosine_length_reward(RIGHT, EX, ctx) is None


def test_cosine_none_for_unscorable_example_and_non_strings():
    ctx = RewardContext(task=_Task(), num_tokens=50, max_tokens=100)
    assert cosine_length_reward(RIGHT, Example("y", "p", "?", {}), ctx) is None
    assert cosine_length_reward(None, EX, ctx) is None
    assert cosine_length_reward(b"bytes", EX, ctx) is None


def test_cosine_batch_one_accuracy_call_and_equal_to_per_sample():
    task = _Task()
    completions = [RIGHT, WRONG, RIGHT, WRONG, RIGHT]
    contexts = [
        RewardContext(task=task, num_tokens=0, max_tokens=100),
        RewardContext(task=task, num_tokens=100, max_tokens=100),
        RewardContext(task=task, num_tokens=100, max_tokens=100, truncated=True),
        RewardContext(task=task, num_tokens=None, max_tokens=100),
        RewardContext(task=task, num_tokens=50, max_tokens=100),
    ]
    batch = cosine_length_rewards(completions, [EX] * 5, contexts)
    assert batch == pytest.approx([2.0, 0.0, -10.0, None, 1.5])
    assert task.calls == [["5", "6", "5"]]  # one call, only for the samples whose reward needs it
    singles = [cosine_length_reward(c, EX, ctx) for c, ctx in zip(completions, contexts)]
    assert singles == batch


def test_cosine_batch_never_raises():
    ctx = RewardContext(task=_Task(), num_tokens=1, max_tokens=2)
    assert cosine_length_rewards([RIGHT, RIGHT], [EX], [ctx, ctx]) == [None, None]  # mismatched lengths
    assert cosine_length_rewards([], [], []) == []
    assert cosine_length_rewards(None, None, None) == []


# ---- overlong_penalty: 0 | (L_max - L_cache - |y|) / L_cache | -1 ----

@pytest.mark.parametrize("length,expected", [
    (0, 0.0), (79, 0.0), (80, 0.0),  # up to L_max - L_cache: no penalty
    (81, -0.05), (90, -0.5), (99, -0.95), (100, -1.0),  # the buffer: linear, -1 at L_max itself
    (101, -1.0), (10**9, -1.0),  # beyond L_max
])
def test_overlong_penalty_hand_values(length, expected):
    assert overlong_penalty(length, 100, 20) == pytest.approx(expected, abs=1e-12)


def test_overlong_penalty_without_buffer_is_a_hard_cutoff():
    assert overlong_penalty(100, 100, 0) == 0.0 and overlong_penalty(101, 100, 0) == -1.0


def test_overlong_penalty_reward():
    # DAPO's setting: L_max = 20480, L_cache = 4096 (= 20480 // 5, the default).
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=18432, max_tokens=20480)) == -0.5
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=16384, max_tokens=20480)) == 0.0
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=20480, max_tokens=20480, truncated=True)) == -1.0
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=95, max_tokens=100), buffer=10) == -0.5
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=95), max_len=100, buffer=10) == -0.5
    assert overlong_penalty_reward("y", None, RewardContext(num_tokens=95, max_tokens=100), max_len=200) == 0.0


@pytest.mark.parametrize("completion,ctx", [
    ("y", RewardContext(num_tokens=None, max_tokens=100)),
    ("y", RewardContext(num_tokens=50)),
    ("y", None),
    (None, RewardContext(num_tokens=50, max_tokens=100)),
])
def test_overlong_does_not_apply(completion, ctx):
    assert overlong_penalty_reward(completion, None, ctx) is None


def test_length_rewards_on_hostile_text():
    ctx = RewardContext(task=_Task(), num_tokens=10, max_tokens=20)
    for text in ("<think>" + "x" * 1_000_000, "\x00\ud800</think>\udfff", "<answer>" * 100_000):
        assert cosine_length_reward(text, EX, ctx) == pytest.approx(-5.0)
        assert overlong_penalty_reward(text, EX, ctx) == 0.0
