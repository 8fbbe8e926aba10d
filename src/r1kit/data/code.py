"""Code problems (HumanEval, MBPP and their like) from a JSONL file, scored by running the tests.

    task = JsonlCodeTask("../shared/data/humaneval.jsonl")
    ex = task.examples()[0]
    task.verify("```python\\n" + ex.meta["prefix"] + ex.meta["canonical_solution"] + "```", ex)   # 1.0

Rows follow shared/data's code schema: `prompt`, `tests` (assert-style test code) and optionally
`entry_point`, `source`. For HumanEval rows (source "humaneval") the prompt — the function's
signature and docstring — is run before the model's program (`meta["prefix"]`), as HumanEval's
own harness does; MBPP programs run alone. The problem shown to the model asks for one fenced
Python block; MBPP's shows its first test, which is where the function's name and signature live.
`verify` is all-or-nothing in the sandbox (r1kit.rewards.code), so pass@1 means "all tests pass".
"""

from __future__ import annotations

from r1kit.data.base import Example
from r1kit.data.jsonl import JsonlMathTask
from r1kit.errors import R1kitError

HUMANEVAL_PROBLEM = ("Complete the following Python function. Reply with the full function in one ```python block."
                     "\n\n```python\n{prompt}```")
MBPP_PROBLEM = "{prompt}\nReply with Python code in one ```python block. Your code should pass this test:\n\n{test}"


class JsonlCodeTask(JsonlMathTask):
    """A fixed list of code problems from a local JSONL file or a hub dataset with the same columns."""

    name = "code"

    def __init__(self, path: str, split: str = "test", timeout: float = 10.0):
        self.timeout = timeout
        super().__init__(path, split, problem_key="prompt", answer_key="tests")

    def verify_batch(self, answers: list[str | None], examples: list[Example]) -> list[float | None]:
        """1.0 when the program in each answer passes all of its example's tests, else 0.0."""
        from r1kit.rewards.code import code_rewards  # rewards imports data

        return code_rewards([a or "" for a in answers], examples, mode="all", timeout=self.timeout)

    def verify(self, answer: str | None, example: Example) -> float | None:
        return self.verify_batch([answer], [example])[0]

    def _to_example(self, i: int, row: dict) -> Example:
        return code_example(self.dataset_name, i, row, path=self.path)


def code_example(name: str, i: int, row: dict, path: str = "") -> Example:
    """One code problem from a row of shared/data's schema, or of the hub's HumanEval / MBPP columns
    (HumanEval's `test` defines check(candidate) without calling it; MBPP's `test_list` holds asserts)."""
    where = path or name
    prompt, tests = row.get("prompt"), row.get("tests", row.get("test"))
    if tests is None and isinstance(row.get("test_list"), list):
        tests = "\n".join([*row.get("test_imports", []), *row["test_list"]]) + "\n"
    for key, value in (("prompt", prompt), ("tests", tests)):
        if not isinstance(value, str) or not value.strip():
            raise R1kitError(f"{where}: row {i + 1} has no {key!r}")
    entry = row.get("entry_point")
    humaneval = str(row.get("source", "")).lower() == "humaneval" or "def check(candidate)" in tests
    if humaneval and entry and f"check({entry})" not in tests:
        tests += f"\n\ncheck({entry})\n"
    first_test = next((line for line in tests.splitlines() if line.startswith("assert")), "")
    template = HUMANEVAL_PROBLEM if humaneval else MBPP_PROBLEM
    problem = template.replace("{prompt}", prompt).replace("{test}", first_test)
    meta = {k: v for k, v in row.items() if k not in ("id", "tests", "test")}
    meta.update(tests=tests, prefix=prompt if humaneval else "")
    meta.setdefault("canonical_solution", row.get("code"))
    row_id = str(row.get("id") or row.get("task_id") or f"{name}-{i}")
    return Example(row_id, problem, "", meta)
