"""Multiple-choice problems (GPQA-style) from rows, scored by the chosen letter (scorer "choice").

    task = JsonlChoiceTask("gpqa_diamond.jsonl", test_fraction=1.0)     # a benchmark: every row a test row
    ex = task.examples("test")[0]      # Example(id, problem, answer="C", meta={"choices": [...4 texts]})

Rows: our schema {problem, choices: [2-26 texts], answer: letter}, or the hub's GPQA columns
(Question, Correct Answer, Incorrect Answer 1-3), whose choices are shuffled by a hash of the question,
so the order is fixed per problem and the correct one is not always "A". The letters offered are the
first len(choices) of A-Z; r1kit.verify.choice reads the chosen one. Splitting and loading are
JsonlMathTask's (jsonl.py).
"""

from __future__ import annotations

import hashlib
import random

from r1kit.data.base import Example
from r1kit.data.jsonl import JsonlMathTask, row_id
from r1kit.errors import R1kitError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class JsonlChoiceTask(JsonlMathTask):
    """Multiple-choice problems from a local JSONL file, a hub dataset or loaded rows."""

    name = "choice"
    scorer = "choice"

    def __init__(self, path: str = "", rows: list[dict] | None = None, *, test_path: str = "",
                 test_fraction: float = 0.1, name: str = "", hub_config: str = ""):
        super().__init__(path, rows, test_path=test_path, test_fraction=test_fraction, name=name,
                         hub_config=hub_config)

    def _to_example(self, name: str, i: int, row: dict, where: str) -> Example:
        return choice_example(name, i, row, path=where)


def choice_example(name: str, i: int, row: dict, path: str = "") -> Example:
    """One multiple-choice problem from our schema or the hub's GPQA columns (module docstring)."""
    where = path or name
    if "Question" in row:
        correct = str(row.get("Correct Answer", "")).strip()
        choices = [correct] + [str(row.get(f"Incorrect Answer {j}", "")).strip() for j in (1, 2, 3)]
        seed = int.from_bytes(hashlib.sha256(str(row["Question"]).encode()).digest()[:8], "big")
        random.Random(seed).shuffle(choices)
        problem, answer = str(row["Question"]).strip(), LETTERS[choices.index(correct)]
    else:
        problem, choices, answer = row.get("problem"), row.get("choices"), str(row.get("answer", "")).strip()
    if not problem or not isinstance(choices, list) or not 2 <= len(choices) <= 26:
        raise R1kitError(f"{where}: row {i + 1} needs a problem and a list of 2-26 choices")
    letters = LETTERS[: len(choices)]
    if len(answer) != 1 or answer.upper() not in letters:
        raise R1kitError(f"{where}: row {i + 1} has answer {answer!r}, not one of the letters {letters}")
    keep = {} if "Question" in row else {k: v for k, v in row.items() if k not in ("id", "problem", "choices", "answer")}
    meta = {**keep, "choices": [str(c) for c in choices]}
    return Example(row_id(row, name, i), str(problem), answer.upper(), meta)
