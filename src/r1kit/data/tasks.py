"""Tasks by name: the registry behind `get_task`, plus the `Example`/`Task` contract.

    task = get_task("arithmetic", digits=5, op="+")
    train = task.examples("train", 1000)
    verify.score(task, [" <think></think> <answer>80235</answer>"], train[:1])   # r1kit.verify decides

Names: "arithmetic" (ArithmeticTask), "countdown" (CountdownTask), "jsonl" (JsonlMathTask, path=...),
"code" (JsonlCodeTask, path=...: HumanEval/MBPP-style rows scored in the sandbox), "choice"
(JsonlChoiceTask, path=...: GPQA-style multiple choice).
"""

from __future__ import annotations

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import SCORERS, Example, Task
from r1kit.data.choice import JsonlChoiceTask
from r1kit.data.code import JsonlCodeTask
from r1kit.data.countdown import CountdownTask
from r1kit.data.jsonl import JsonlMathTask
from r1kit.errors import R1kitError

TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
    "countdown": CountdownTask,
    "jsonl": JsonlMathTask,
    "code": JsonlCodeTask,
    "choice": JsonlChoiceTask,
}


def get_task(name: str, **kwargs) -> Task:
    """Build the task registered as `name` with `kwargs`; R1kitError for unknown names or arguments."""
    if name not in TASKS:
        raise R1kitError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    try:
        return TASKS[name](**kwargs)
    except TypeError as e:  # a misspelt keyword is user input, not a bug
        raise R1kitError(f"task {name!r}: {e}") from None


__all__ = ["ArithmeticTask", "CountdownTask", "Example", "JsonlChoiceTask", "JsonlCodeTask", "JsonlMathTask", "SCORERS",
           "TASKS", "Task", "get_task"]
