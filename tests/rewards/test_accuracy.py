"""The accuracy reward is verify.score's score: the final answer, extracted the task's way, checked."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import Example, Task
from r1kit.data.jsonl import JsonlMathTask
from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards
from r1kit.rewards.context import RewardContext
from r1kit.rewards.registry import compute_rewards


def test_arithmetic():
    task = ArithmeticTask()
    ex = task._example("x", 12345, 67890)
    assert accuracy_reward(" <think>\n</think> <answer>80235</answer>", ex, task) == 1.0
    assert accuracy_reward(" <think>\n</think> <answer>80236</answer>", ex, task) == 0.0
    assert accuracy_reward("the answer is 80235", ex, task) == 0.0  # no tags, no explicit answer
    assert accuracy_reward("sum\n</think> 80235", ex, task) == 1.0  # opening tag from the prompt
    assert accuracy_reward("sum 80235", ex, task, think_open=True) == 0.0  # still reasoning: no answer
    assert accuracy_reward(None, ex, task) == 0.0


def test_math_task_batch(tmp_path, verifier_pool):
    path = tmp_path / "m.jsonl"
    path.write_text('{"problem": "p", "answer": "\\\\frac{1}{2}"}\n')
    task = JsonlMathTask(str(path), test_fraction=1.0)
    ex = task.examples("test")[0]
    completions = [
        "<think>half</think> <answer>0.5</answer>",
        "<think>half</think> The answer is $\\boxed{\\dfrac{1}{2}}$.",
        "<think>\\boxed{0.5}",  # never closed the think: no answer
        "<think>x</think> <answer>1/3</answer>",
    ]
    assert accuracy_rewards(completions, [ex] * 4, task) == [1.0, 1.0, 0.0, 0.0]


def test_unparsable_gold_is_skipped_not_scored(verifier_pool):
    task = JsonlMathTask(rows=[{"problem": "p", "answer": "\\boxed{x"}], test_fraction=1.0)
    ex = task.examples("test")[0]
    assert accuracy_rewards(["<think></think> 5", "<think>still"], [ex] * 2, task) == [None, None]


def test_think_open_reaches_the_reward_through_the_context():
    task = ArithmeticTask()
    ex = task._example("x", 1, 2)
    ctx = RewardContext(task=task, think_open=True)
    _, parts = compute_rewards(["so 3 <answer>3</answer>", "so</think> <answer>3</answer>"], [ex] * 2, task,
                               {"accuracy": 1.0}, contexts=[ctx, ctx])
    assert parts["accuracy"] == [0.0, 1.0]
    _, parts = compute_rewards(["so 3 <answer>3</answer>"], [ex], task, {"accuracy": 1.0})
    assert parts["accuracy"] == [1.0]  # without think_open the block is the final answer


class _Broken(Task):
    scorer = "no such scorer"


@pytest.mark.parametrize("task", [_Broken(), object()])
def test_a_broken_task_scores_zero_instead_of_raising(task):
    ex = Example("x", "p", "1", {})
    assert accuracy_reward("<think></think><answer>1</answer>", ex, task) == 0.0
