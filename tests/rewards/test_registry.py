"""compute_rewards / check_rewards: weighted totals, per-component scores, options, the contract."""

import math

import pytest

from r1kit.config import load_config
from r1kit.data.arithmetic import ArithmeticTask
from r1kit.errors import R1kitError
from r1kit.rewards import registry
from r1kit.rewards.context import RewardContext
from r1kit.rewards.registry import REWARDS, Reward, check_rewards, compute_rewards
from r1kit.train.config import GRPORunConfig


@pytest.fixture
def task_and_example():
    task = ArithmeticTask()
    return task, task._example("x", 1, 2)


def test_weighted_totals(task_and_example):
    task, ex = task_and_example
    completions = ["<think>a</think> <answer>3</answer>", "<think>a</think> <answer>4</answer>", "3"]
    totals, parts = compute_rewards(completions, [ex] * 3, task, {"accuracy": 1.0, "format": 0.5})
    assert parts == {"accuracy": [1.0, 0.0, 0.0], "format": [1.0, 1.0, 0.0]}
    assert totals == [1.5, 0.5, 0.0]


def test_registry_names():
    assert {"accuracy", "format", "format_lenient", "chat_format", "language", "cosine_length", "overlong",
            "repetition", "choice", "code"} <= set(REWARDS)


def test_unknown_reward_lists_valid_names():
    with pytest.raises(R1kitError, match="unknown reward.*acc;.*accuracy, chat_format"):
        compute_rewards([], [], None, {"acc": 1.0})
    with pytest.raises(R1kitError, match="unknown reward.*typo"):
        check_rewards({"accuracy": 1.0}, {"typo": {}})


def test_options_are_checked_and_coerced():
    assert check_rewards({"overlong": 1.0}, {"overlong": {"max_len": 100}}) == {"overlong": {"max_len": 100}}
    with pytest.raises(R1kitError, match="unknown option.*max_length.*'overlong'.*valid options: .*max_len"):
        check_rewards({"overlong": 1.0}, {"overlong": {"max_length": 100}})
    with pytest.raises(R1kitError, match="reward_options.overlong.max_len"):
        check_rewards({"overlong": 1.0}, {"overlong": {"max_len": "long"}})
    with pytest.raises(R1kitError, match="valid options: none"):
        check_rewards({"accuracy": 1.0}, {"accuracy": {"x": 1}})


def test_options_reach_the_reward_and_contexts_carry_lengths(task_and_example):
    task, ex = task_and_example
    ctxs = [RewardContext(task, num_tokens=n, max_tokens=100) for n in (10, 90, 100)]
    _, parts = compute_rewards(["a", "b", "c"], [ex] * 3, task, {"overlong": 1.0},
                               contexts=ctxs, options={"overlong": {"buffer": 20}})
    assert parts["overlong"] == [0.0, pytest.approx(-0.5), pytest.approx(-1.0)]  # (80 - 90) / 20, (80 - 100) / 20


def test_none_counts_zero_and_raising_reward_is_contained(monkeypatch):
    monkeypatch.setitem(REWARDS, "format", Reward(lambda c, e, ctx: None))
    totals, parts = compute_rewards(["x"], [None], None, {"format": 2.0})
    assert totals == [0.0] and parts == {"format": [None]}

    def boom(c, e, ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(REWARDS, "format", Reward(boom))
    assert compute_rewards(["x"], [None], None, {"format": 1.0}) == ([0.0], {"format": [None]})


def test_non_finite_scores_become_none(monkeypatch):
    monkeypatch.setitem(REWARDS, "format", Reward(lambda c, e, ctx: float(c)))
    _, parts = compute_rewards(["nan", "inf", "2"], [None] * 3, None, {"format": 1.0})
    assert parts["format"] == [None, None, 2.0]


def test_broken_batch_falls_back_to_single(monkeypatch):
    calls = []
    monkeypatch.setitem(REWARDS, "format", Reward(lambda c, e, ctx: calls.append(c) or 1.0, lambda *a: [1.0]))
    _, parts = compute_rewards(["a", "b"], [None] * 2, None, {"format": 1.0})  # batch returned 1 score for 2
    assert parts["format"] == [1.0, 1.0] and calls == ["a", "b"]


def test_preflight_runs_only_when_asked(monkeypatch):
    def refuse(options):
        raise R1kitError(f"sandbox unavailable ({options})")

    monkeypatch.setitem(REWARDS, "format", Reward(REWARDS["format"].fn, None, refuse))
    check_rewards({"format": 1.0})
    with pytest.raises(R1kitError, match="sandbox unavailable"):
        check_rewards({"format": 1.0}, preflight=True)


def test_register_a_custom_reward(monkeypatch, task_and_example):
    monkeypatch.setattr(registry, "REWARDS", dict(REWARDS))

    def shorter(completion, example, ctx, *, scale: float = 1.0):
        return -scale * len(completion)

    registry.register("shorter", shorter)
    task, ex = task_and_example
    assert compute_rewards(["abc"], [ex], task, {"shorter": 2.0}, options={"shorter": {"scale": 0.5}})[0] == [-3.0]


def test_yaml_rewards_and_options_load():
    cfg = load_config(GRPORunConfig, None, ["--rewards={accuracy: 1.0, language: 0.1}",
                                            "--reward_options={language: {language: zh}}"])
    assert cfg.rewards == {"accuracy": 1.0, "language": 0.1}
    assert check_rewards(cfg.rewards, cfg.reward_options) == {"accuracy": {}, "language": {"language": "zh"}}
    assert math.isclose(sum(cfg.rewards.values()), 1.1)
