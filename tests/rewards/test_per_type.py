"""The `per_type` reward (stage 4): each prompt type gets its own weighted rewards, hand-computed."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import Example
from r1kit.errors import R1kitError
from r1kit.rewards.registry import REWARDS, Reward, check_rewards, compute_rewards

TASK = ArithmeticTask()
REASONING = Example("r", "1 + 2", "3", {})                      # no type field: the default, reasoning
GENERAL = Example("g", "Write a haiku.", "", {"type": "general"})
OTHER = Example("o", "Translate this.", "", {"type": "translation"})
RIGHT, WRONG, NOTAG = "<think>a</think> <answer>3</answer>", "<think>a</think> <answer>4</answer>", "3"


@pytest.fixture
def fake_rm(monkeypatch):
    """A stand-in preference model: 2.0 for an answer containing "haiku", else -1.0; None without </think>."""
    def fn(completion, example, ctx, *, bonus: float = 0.0):
        if "</think>" not in completion:
            return None
        return (2.0 if "haiku" in completion else -1.0) + bonus
    monkeypatch.setitem(REWARDS, "fake_rm", Reward(fn))


OPTIONS = {"per_type": {"weights": {"reasoning": {"accuracy": 1.0, "format": 0.5}, "general": {"fake_rm": 2.0}},
                        "options": {"fake_rm": {"bonus": 0.25}}}}


def test_each_type_gets_its_own_rewards(fake_rm):
    completions = [RIGHT, WRONG, NOTAG, "<think>x</think> a haiku", "<think>x</think> prose", "no tags", RIGHT]
    examples = [REASONING, REASONING, REASONING, GENERAL, GENERAL, GENERAL, OTHER]
    totals, parts = compute_rewards(completions, examples, TASK, {"per_type": 1.0, "format": 0.1}, options=OPTIONS)
    # reasoning: accuracy + 0.5 format; general: 2 * (fake_rm + 0.25); a type without weights: None
    assert parts["per_type"] == [1.5, 0.5, 0.0, 4.5, -1.5, None, None]   # "3" untagged: 0 accuracy, 0 format
    assert totals == pytest.approx([1.6, 0.6, 0.0, 4.5, -1.5, 0.0, 0.1])   # + 0.1 format (needs <answer>), every prompt


def test_type_key_and_default_are_options(fake_rm):
    ex = Example("x", "1 + 2", "3", {"kind": "general"})
    opts = {"per_type": {**OPTIONS["per_type"], "type_key": "kind", "default": "general"}}
    _, parts = compute_rewards(["<think>x</think> haiku", "<think>x</think> haiku"], [ex, REASONING], TASK,
                               {"per_type": 1.0}, options=opts)
    assert parts["per_type"] == [4.5, 4.5]                         # REASONING has no "kind": the default applies


def test_bad_options_fail_before_a_run(fake_rm):
    with pytest.raises(R1kitError, match="set reward_options.per_type.weights"):
        check_rewards({"per_type": 1.0}, preflight=True)
    with pytest.raises(R1kitError, match="unknown reward.*nope"):
        check_rewards({"per_type": 1.0}, {"per_type": {"weights": {"general": {"nope": 1.0}}}}, preflight=True)
    with pytest.raises(R1kitError, match="options for fake_rm, which no prompt type weights"):
        check_rewards({"per_type": 1.0}, {"per_type": {"weights": {"reasoning": {"accuracy": 1.0}},
                                                      "options": {"fake_rm": {"bonus": 1.0}}}}, preflight=True)
    with pytest.raises(R1kitError, match="cannot name per_type"):
        check_rewards({"per_type": 1.0}, {"per_type": {"weights": {"general": {"per_type": 1.0}}}}, preflight=True)
    with pytest.raises(R1kitError, match="unknown option.*colour.*fake_rm"):
        check_rewards({"per_type": 1.0}, {"per_type": {"weights": {"general": {"fake_rm": 1.0}},
                                                      "options": {"fake_rm": {"colour": 1}}}}, preflight=True)


def test_a_broken_inner_reward_gives_none_for_its_type_only(monkeypatch):
    def boom(completion, example, ctx):
        raise RuntimeError("broken")
    monkeypatch.setitem(REWARDS, "boom", Reward(boom, lambda *a: 1 / 0))
    opts = {"per_type": {"weights": {"reasoning": {"accuracy": 1.0}, "general": {"boom": 1.0}}}}
    _, parts = compute_rewards([RIGHT, RIGHT], [REASONING, GENERAL], TASK, {"per_type": 1.0}, options=opts)
    assert parts["per_type"] == [1.0, None]
