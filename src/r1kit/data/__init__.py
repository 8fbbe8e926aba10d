"""Tasks, prompt templates and completion parsing (see docs/ARCHITECTURE.md, "data/").

Light to import: `datasets` loads only when a JSONL/hub task is built.
"""

from r1kit.data.tasks import (
    SCORERS,
    TASKS,
    ArithmeticTask,
    CountdownTask,
    Example,
    JsonlChoiceTask,
    JsonlCodeTask,
    JsonlMathTask,
    Task,
    get_task,
)
from r1kit.data.templates import (
    MATH_DIRECTIVE,
    R1_ZERO_TEMPLATE,
    Parsed,
    parse_completion,
    render_prompt,
    split_reasoning,
)

__all__ = [
    "SCORERS", "TASKS", "ArithmeticTask", "CountdownTask", "Example", "JsonlChoiceTask", "JsonlCodeTask",
    "JsonlMathTask", "Task", "get_task",
    "MATH_DIRECTIVE", "R1_ZERO_TEMPLATE", "Parsed", "parse_completion", "render_prompt", "split_reasoning",
]
