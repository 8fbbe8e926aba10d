"""Held out means held out (issue 9): for every task, no test problem is a training problem."""

import json
from pathlib import Path

import pytest

from r1kit.data.base import problem_key
from r1kit.data.tasks import get_task

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _rows(kind: str, n: int) -> list[dict]:
    """n problems of `kind`'s schema, every one also present a second time written differently."""
    if kind == "code":
        base = [{"prompt": f"Write f{i}(x).", "tests": f"assert f{i}(1) == {i}\n"} for i in range(n)]
        key = "prompt"
    elif kind == "choice":
        base = [{"problem": f"Which is {i}?", "choices": [str(i), "no"], "answer": "A"} for i in range(n)]
        key = "problem"
    else:
        base = [{"problem": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(n)]
        key = "problem"
    return base + [dict(r, **{key: " " + r[key].upper() + "  "}) for r in base]


def _disjoint(train, test) -> None:
    assert train and test
    assert not {problem_key(e.problem) for e in train} & {problem_key(e.problem) for e in test}


@pytest.mark.parametrize("name,args", [
    ("arithmetic", {"digits": 2, "op": "+"}), ("arithmetic", {"digits": 3, "op": "*"}),
    ("countdown", {"n_numbers": 3, "max_number": 20, "max_target": 50}),
])
def test_synthetic_tasks_hold_out_their_test_problems(name, args):
    for seed_train, seed_test in ((0, 0), (1, 2)):  # whatever seeds either side uses
        train = get_task(name, seed=seed_train, **args).examples("train", 2000)
        test = get_task(name, seed=seed_test, **args).examples("test", 200)
        _disjoint(train, test)


@pytest.mark.parametrize("name", ["jsonl", "code", "choice"])
def test_row_tasks_hold_out_their_test_problems(tmp_path, name):
    kind = name if name != "jsonl" else "math"
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows(kind, 300)))
    task = get_task(name, path=str(path))
    _disjoint(task.examples("train"), task.examples("test"))
    # a separate test file: training rows that repeat one of its problems are dropped
    test_path = tmp_path / "test.jsonl"
    test_path.write_text("".join(json.dumps(r) + "\n" for r in _rows(kind, 20)[:20]))
    task = get_task(name, path=str(path), test_path=str(test_path))
    assert len(task.examples("test")) == 20 and len(task.examples("train")) == 600 - 40
    _disjoint(task.examples("train"), task.examples("test"))


@pytest.mark.parametrize("name,file", [("jsonl", "gsm8k_test.jsonl"), ("jsonl", "math500.jsonl"),
                                       ("code", "humaneval.jsonl"), ("code", "mbpp_sanitized.jsonl")])
def test_shared_data_files_split_disjointly(name, file):
    if not (DATA / file).is_file():
        pytest.skip(f"shared benchmark data not found at {DATA} (a fresh clone has none)")
    task = get_task(name, path=str(DATA / file))
    _disjoint(task.examples("train"), task.examples("test"))
