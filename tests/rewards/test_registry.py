"""compute_rewards: weighted totals and per-component scores; unknown names are user errors."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.errors import R1kitError
from r1kit.rewards import registry
from r1kit.rewards.registry import REWARDS, compute_rewards


def test_weighted_totals():
    task = ArithmeticTask()
    ex = task._example("x", 1, 2)
    completions = ["<think>a</think> <answer>3</answer>", "<think>a</think> <answer>4</answer>", "3"]
    totals, parts = compute_rewards(completions, [ex] * 3, task, {"accuracy": 1.0, "format": 0.5})
    assert parts == {"accuracy": [1.0, 0.0, 0.0], "format": [1.0, 1.0, 0.0]}
    assert totals == [1.5, 0.5, 0.0]
    assert set(REWARDS) == {"accuracy", "format"}


def test_unknown_reward_lists_valid_names():
    with pytest.raises(R1kitError, match="accuracy, format"):
        compute_rewards([], [], None, {"acc": 1.0})


def test_none_counts_zero_and_raising_reward_is_contained(monkeypatch):
    monkeypatch.setitem(REWARDS, "format", lambda c, e, t: None)
    totals, parts = compute_rewards(["x"], [None], None, {"format": 2.0})
    assert totals == [0.0] and parts == {"format": [None]}

    def boom(c, e, t):
        raise RuntimeError("bug")

    monkeypatch.setitem(REWARDS, "format", boom)
    assert compute_rewards(["x"], [None], None, {"format": 1.0}) == ([0.0], {"format": [None]})
    assert "accuracy" in registry.BATCHED
