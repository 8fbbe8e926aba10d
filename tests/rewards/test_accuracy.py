"""accuracy_reward uses the task's verify on the parsed answer."""

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import Example, Task
from r1kit.data.jsonl import JsonlMathTask
from r1kit.rewards.accuracy import accuracy_reward, accuracy_rewards


def test_arithmetic():
    task = ArithmeticTask()
    ex = task._example("x", 12345, 67890)
    assert accuracy_reward(" <think>\n</think> <answer>80235</answer>", ex, task) == 1.0
    assert accuracy_reward(" <think>\n</think> <answer>80236</answer>", ex, task) == 0.0
    assert accuracy_reward("the answer is 80235", ex, task) == 0.0  # no tags: no answer
    assert accuracy_reward("sum\n</think> 80235", ex, task) == 1.0  # opening tag from the prompt
    assert accuracy_reward(None, ex, task) == 0.0


def test_math_task_batch(tmp_path, verifier_pool):
    path = tmp_path / "m.jsonl"
    path.write_text('{"problem": "p", "answer": "\\\\frac{1}{2}"}\n')
    task = JsonlMathTask(str(path))
    ex = task.examples("test")[0]
    completions = [
        "<think>half</think> <answer>0.5</answer>",
        "<think>half</think> The answer is $\\boxed{\\dfrac{1}{2}}$.",
        "<think>\\boxed{0.5}",  # never closed the think: no answer
        "<think>x</think> <answer>1/3</answer>",
    ]
    assert accuracy_rewards(completions, [ex] * 4, task) == [1.0, 1.0, 0.0, 0.0]


class _Broken(Task):
    def verify(self, answer, example):
        raise RuntimeError("bug")

    def verify_batch(self, answers, examples):
        raise RuntimeError("bug")


def test_a_broken_task_scores_zero_instead_of_raising():
    ex = Example("x", "p", "1", {})
    assert accuracy_reward("<think></think><answer>1</answer>", ex, _Broken()) == 0.0
