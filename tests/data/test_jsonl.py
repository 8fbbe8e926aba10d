"""JsonlMathTask: loads local files via `datasets`, names bad rows, scores with Math-Verify."""

import json
from pathlib import Path

import pytest

from r1kit.data.jsonl import JsonlMathTask
from r1kit.data.tasks import get_task
from r1kit.errors import R1kitError

# ../shared/data beside the checkout (CI has it; a user's fresh clone does not, so the test skips)
GSM8K = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k_test.jsonl"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.skipif(not GSM8K.exists(), reason="../shared/data/gsm8k_test.jsonl (benchmark data beside the checkout) is absent")
def test_gsm8k(verifier_pool):
    task = get_task("jsonl", path=str(GSM8K))
    rows = task.examples("test", None)
    assert len(rows) == 1319 and rows[0].id == "gsm8k-test-0" and "solution" in rows[0].meta
    assert task.examples("train", 5) == rows[:5]  # a single file: split ignored
    assert task.verify_batch([r.answer for r in rows], rows) == [1.0] * 1319
    assert task.verify(f"so the answer is \\boxed{{{rows[0].answer}}}.", rows[0]) == 1.0
    assert task.verify(str(int(rows[0].answer) + 1), rows[0]) == 0.0


def test_missing_file(tmp_path):
    with pytest.raises(R1kitError, match="dataset not found: .*nope.jsonl"):
        JsonlMathTask(str(tmp_path / "definitely" / "nope.jsonl"))


def test_row_without_answer_is_named(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [{"problem": "1+1?", "answer": "2"}, {"problem": "2+2?"}])
    with pytest.raises(R1kitError) as err:
        JsonlMathTask(path)
    msg = str(err.value)
    assert "bad.jsonl" in msg and "row 2" in msg and "answer" in msg and "\n" not in msg


def test_custom_keys_and_ids(tmp_path, verifier_pool):
    path = _write(tmp_path / "m.jsonl", [{"question": "Half of 1?", "final": "\\frac{1}{2}", "level": 1}])
    task = JsonlMathTask(path, problem_key="question", answer_key="final")
    (ex,) = task.examples("test", 0)
    assert (ex.id, ex.problem, ex.answer, ex.meta) == ("m-0", "Half of 1?", "\\frac{1}{2}", {"level": 1})
    assert task.verify("0.5", ex) == 1.0
    assert task.verify("<think>\\boxed{3}</think> \\boxed{0.5}", ex) == 1.0
    assert task.verify(None, ex) == 0.0 and task.verify("0.4", ex) == 0.0


def test_malformed_json(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"problem": "x", "answer": \n')
    with pytest.raises(R1kitError, match="broken.jsonl"):
        JsonlMathTask(str(path))
