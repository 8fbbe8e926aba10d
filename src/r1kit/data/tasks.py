"""Tasks by name: the registry behind `get_task`, plus the `Example`/`Task` contract.

    task = get_task("arithmetic", digits=5, op="+")
    train = task.examples("train", 1000)
    task.verify("80235", train[0])            # 1.0 or 0.0

Names: "arithmetic" (ArithmeticTask), "countdown" (CountdownTask), "jsonl" (JsonlMathTask, path=...),
"code" (JsonlCodeTask, path=...: HumanEval/MBPP-style rows scored in the sandbox).
"""

from __future__ import annotations

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import Example, Task
from r1kit.data.code import JsonlCodeTask
from r1kit.data.countdown import CountdownTask
from r1kit.data.jsonl import JsonlMathTask
from r1kit.errors import R1kitError

TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
    "countdown": CountdownTask,
    "jsonl": JsonlMathTask,
    "code": JsonlCodeTask,
}


def get_task(name: str, **kwargs) -> Task:
    """Build the task registered as `name` with `kwargs`; R1kitError for unknown names or arguments."""
    if name not in TASKS:
        raise R1kitError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    try:
        return TASKS[name](**kwargs)
    except TypeError as e:  # a misspelt keyword is user input, not a bug
        raise R1kitError(f"task {name!r}: {e}") from None


__all__ = ["ArithmeticTask", "CountdownTask", "Example", "JsonlCodeTask", "JsonlMathTask", "TASKS", "Task", "get_task"]
