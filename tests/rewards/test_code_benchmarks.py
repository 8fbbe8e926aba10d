"""HumanEval and MBPP through the code task: every reference solution passes, every empty one fails.

This runs 2 x 591 programs in the sandbox through verify.score, the path `r1kit eval` takes and the
code reward shares (verify.code).
"""

from pathlib import Path

import pytest

from r1kit.data.code import JsonlCodeTask
from r1kit.verify import score

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def load(name: str) -> JsonlCodeTask:
    if not (DATA / name).is_file():
        pytest.skip(f"shared benchmark data not found at {DATA} (a fresh clone has none)")
    return JsonlCodeTask(str(DATA / name), test_fraction=1.0)


@pytest.mark.parametrize("name,rows", [("humaneval.jsonl", 164), ("mbpp_sanitized.jsonl", 427)])
def test_reference_solutions_pass_and_empty_ones_fail(sandbox_ok, name, rows):
    task = load(name)
    examples = task.examples("test")
    assert len(examples) == rows
    # the model's reply: a fenced block with the whole function (HumanEval: the prompt's signature + body)
    references = [f"```python\n{ex.meta['prefix']}{ex.meta['canonical_solution']}\n```" for ex in examples]
    empties = ["```python\npass\n```"] * len(examples)  # HumanEval: prompt + pass = a function returning None
    scores = [v.score for v in score(task, references + empties, examples + examples)]
    assert [ex.id for ex, s in zip(examples, scores[:rows]) if s != 1.0] == []
    assert [ex.id for ex, s in zip(examples, scores[rows:]) if s != 0.0] == []


def test_problem_text_shows_what_the_model_needs():
    he, mbpp = load("humaneval.jsonl").examples("test")[0], load("mbpp_sanitized.jsonl").examples("test")[0]
    assert "def has_close_elements" in he.problem and he.meta["prefix"].startswith("from typing import List")
    assert "assert set(similar_elements(" in mbpp.problem and mbpp.meta["prefix"] == ""
    assert he.answer == mbpp.answer == ""
