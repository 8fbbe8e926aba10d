"""Code problems (HumanEval, MBPP and their like) from rows, scored by running the tests (scorer "code").

    task = JsonlCodeTask("../shared/data/humaneval.jsonl", test_fraction=1.0)   # a benchmark: all rows test
    ex = task.examples("test")[0]
    verify.score(task, ["```python\n" + ex.meta["prefix"] + ex.meta["canonical_solution"] + "```"], [ex])

Rows follow shared/data's code schema: `prompt`, `tests` (assert-style test code) and optionally
`entry_point`, `source`. For HumanEval rows (source "humaneval") the prompt — the function's
signature and docstring — is run before the model's program (`meta["prefix"]`), as HumanEval's
own harness does; MBPP programs run alone. The problem shown to the model asks for one fenced
Python block; MBPP's shows its first test, which is where the function's name and signature live.
Correct means all tests pass in the sandbox (r1kit.verify.code), so pass@1 means "all tests pass".
Splitting and loading are JsonlMathTask's (jsonl.py).
"""

from __future__ import annotations

from r1kit.data.base import Example
from r1kit.data.jsonl import JsonlMathTask, row_id
from r1kit.errors import R1kitError

HUMANEVAL_PROBLEM = ("Complete the following Python function. Reply with the full function in one ```python block."
                     "\n\n```python\n{prompt}```")
MBPP_PROBLEM = "{prompt}\nReply with Python code in one ```python block. Your code should pass this test:\n\n{test}"


class JsonlCodeTask(JsonlMathTask):
    """Code problems from a local JSONL file, a hub dataset with the same columns, or loaded rows.

    `timeout`: seconds each program may run when it is scored (r1kit.verify reads it).
    """

    name = "code"
    scorer = "code"

    def __init__(self, path: str = "", rows: list[dict] | None = None, *, test_path: str = "",
                 test_fraction: float = 0.1, name: str = "", hub_config: str = "", timeout: float = 10.0):
        if not timeout > 0:
            raise R1kitError(f"code task timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = float(timeout)
        super().__init__(path, rows, test_path=test_path, test_fraction=test_fraction, problem_key="prompt",
                         answer_key="tests", name=name, hub_config=hub_config)

    def _to_example(self, name: str, i: int, row: dict, where: str) -> Example:
        return code_example(name, i, row, path=where)


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
    return Example(row_id(row, name, i), problem, "", meta)
