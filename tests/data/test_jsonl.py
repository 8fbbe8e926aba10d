"""Row tasks (JsonlMathTask, JsonlCodeTask, JsonlChoiceTask): loading, bad rows named, held-out splits."""

import json
from pathlib import Path

import pytest

from r1kit.data.base import problem_key
from r1kit.data.choice import JsonlChoiceTask
from r1kit.data.code import JsonlCodeTask
from r1kit.data.jsonl import JsonlMathTask
from r1kit.data.tasks import get_task
from r1kit.errors import R1kitError
from r1kit.verify import score

# ../shared/data beside the checkout (CI has it; a user's fresh clone does not, so the test skips)
GSM8K = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k_test.jsonl"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.skipif(not GSM8K.exists(), reason="../shared/data/gsm8k_test.jsonl (benchmark data beside the checkout) is absent")
def test_gsm8k_as_benchmark_and_as_split_file(verifier_pool):
    bench = get_task("jsonl", path=str(GSM8K), test_fraction=1.0)
    rows = bench.examples("test", None)
    assert len(rows) == 1319 and rows[0].id == "gsm8k-test-0" and "solution" in rows[0].meta
    verdicts = score(bench, [f"<think>r</think> {r.answer}" for r in rows], rows)
    assert [v.score for v in verdicts] == [1.0] * 1319
    task = get_task("jsonl", path=str(GSM8K))  # a training file: 10% held out by problem hash
    train, test = task.examples("train"), task.examples("test")
    assert len(train) + len(test) == 1319 and 90 <= len(test) <= 175
    assert not {problem_key(e.problem) for e in train} & {problem_key(e.problem) for e in test}
    assert task.examples("test", 500) == test  # asking for more than there are gives all, never training rows


def test_missing_file(tmp_path):
    with pytest.raises(R1kitError, match="dataset not found: .*nope.jsonl"):
        JsonlMathTask(str(tmp_path / "definitely" / "nope.jsonl"))
    with pytest.raises(R1kitError, match="needs a path"):
        JsonlMathTask()


def test_row_without_answer_is_named(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [{"problem": "1+1?", "answer": "2"}, {"problem": "2+2?"}])
    with pytest.raises(R1kitError) as err:
        JsonlMathTask(path)
    msg = str(err.value)
    assert "bad.jsonl" in msg and "row 2" in msg and "answer" in msg and "\n" not in msg


def test_custom_keys_and_ids(tmp_path, verifier_pool):
    path = _write(tmp_path / "m.jsonl", [{"question": "Half of 1?", "final": "\\frac{1}{2}", "level": 1}])
    task = JsonlMathTask(path, problem_key="question", answer_key="final", test_fraction=1.0)
    (ex,) = task.examples("test", 0)
    assert (ex.id, ex.problem, ex.answer, ex.meta) == ("m-0", "Half of 1?", "\\frac{1}{2}", {"level": 1})
    texts = ["<think>r</think> 0.5", "<think>\\boxed{3}</think> \\boxed{0.5}", "<think>r</think> 0.4"]
    assert [v.score for v in score(task, texts, [ex] * 3)] == [1.0, 1.0, 0.0]


def test_malformed_json(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"problem": "x", "answer": \n')
    with pytest.raises(R1kitError, match="broken.jsonl"):
        JsonlMathTask(str(path))


def _rows(n):
    return [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(n)]


def test_hash_split_is_disjoint_stable_and_by_problem_text(tmp_path):
    variants = [{"problem": "  " + r["problem"].upper().replace(" ", "   "), "answer": r["answer"]} for r in _rows(200)]
    task = JsonlMathTask(rows=_rows(400) + variants, name="sums")  # 200 problems twice, differently written
    train, test = task.examples("train"), task.examples("test")
    assert len(train) + len(test) == 600 and 30 <= len(test) <= 100
    assert not {problem_key(e.problem) for e in train} & {problem_key(e.problem) for e in test}
    # the split depends on the problem alone: a file with other rows splits the shared ones the same way
    other = JsonlMathTask(_write(tmp_path / "s.jsonl", _rows(100)), test_fraction=0.1)
    assert {e.problem for e in other.examples("test")} == {e.problem for e in test if e.problem in {r["problem"] for r in _rows(100)}}
    assert task.examples("train", 5) == train[:5]
    assert [e.id for e in train + test if e.problem == "What is 0 + 0?"] == ["sums-0"]  # ids: the row index


def test_separate_test_file_and_leaked_rows_dropped(tmp_path):
    train_path = _write(tmp_path / "train.jsonl", _rows(50))
    test_path = _write(tmp_path / "test.jsonl", [{"problem": "what is 3 + 3?", "answer": "6"}, {"problem": "New?", "answer": "1"}])
    task = get_task("jsonl", path=train_path, test_path=test_path)
    assert [e.problem for e in task.examples("test")] == ["what is 3 + 3?", "New?"]
    assert [e.id for e in task.examples("test")] == ["test-0", "test-1"]
    train = task.examples("train")
    assert len(train) == 49 and "What is 3 + 3?" not in {e.problem for e in train}


def test_fractions_and_bad_settings():
    assert len(JsonlMathTask(rows=_rows(30), test_fraction=1.0).examples("test")) == 30
    assert len(JsonlMathTask(rows=_rows(30), test_fraction=0.0).examples("train")) == 30
    with pytest.raises(R1kitError, match="no train rows"):
        JsonlMathTask(rows=_rows(3), test_fraction=1.0).examples("train")
    with pytest.raises(R1kitError, match="test_fraction"):
        JsonlMathTask(rows=_rows(3), test_fraction=1.5)
    with pytest.raises(R1kitError, match="unknown split"):
        JsonlMathTask(rows=_rows(3)).examples("validation")


def test_choice_rows_ours_and_gpqa_hub_columns():
    ours = {"id": "q1", "problem": "Which?", "choices": ["x", "y", "z"], "answer": "c"}
    hub = {"Question": "Pick the right one", "Correct Answer": "right", "Incorrect Answer 1": "w1",
           "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3"}
    task = JsonlChoiceTask(rows=[ours, hub], name="gpqa", test_fraction=1.0)
    a, b = task.examples("test")
    assert (a.id, a.answer, a.meta) == ("q1", "C", {"choices": ["x", "y", "z"]})
    assert b.id == "gpqa-1" and b.meta["choices"][ord(b.answer) - ord("A")] == "right"
    assert sorted(b.meta) == ["choices"] and task.scorer == "choice" and task.name == "gpqa"
    with pytest.raises(R1kitError, match="row 1 has answer 'D', not one of the letters ABC"):
        JsonlChoiceTask(rows=[dict(ours, answer="D")])
    with pytest.raises(R1kitError, match="row 1 needs a problem and a list of 2-26 choices"):
        JsonlChoiceTask(rows=[dict(ours, choices="x")])


def test_code_rows_from_loaded_rows():
    row = {"task_id": "t/1", "prompt": "Write add(a, b).", "tests": "assert add(1, 2) == 3\n"}
    task = JsonlCodeTask(rows=[row], test_fraction=1.0, timeout=3.0)
    (ex,) = task.examples("test")
    assert ex.id == "t/1" and "assert add(1, 2) == 3" in ex.problem and ex.meta["tests"] == row["tests"]
    assert (task.scorer, task.timeout) == ("code", 3.0)
    with pytest.raises(R1kitError, match="timeout"):
        JsonlCodeTask(rows=[row], timeout=0)


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def to_list(self):
        return self.rows


@pytest.mark.parametrize("names", [["train", "test"], ["train"]])
def test_hub_named_splits_or_hash_split(monkeypatch, names):
    from r1kit.data import jsonl

    hub = {"train": _rows(300), "test": [{"problem": "What is 3 + 3?", "answer": "6"}, {"problem": "Q?", "answer": "1"}]}
    loaded = []
    monkeypatch.setattr(jsonl, "_hub_split_names", lambda path, config: names)
    monkeypatch.setattr(jsonl, "load_dataset_quietly", lambda path, config, split: loaded.append(split) or _Rows(hub[split]))
    task = JsonlMathTask("someone/sums")
    assert loaded == []  # nothing is fetched before examples are asked for
    train, test = task.examples("train"), task.examples("test")
    assert not {problem_key(e.problem) for e in train} & {problem_key(e.problem) for e in test}
    if names == ["train", "test"]:  # the hub's own test split; its problems leave training
        assert [e.problem for e in test] == ["What is 3 + 3?", "Q?"] and len(train) == 299
        assert test[0].id == "sums-test-0" and train[0].id == "sums-train-0"
    else:  # no test split: the hash split of the train split
        assert len(train) + len(test) == 300 and 10 <= len(test) <= 60
    assert sorted(set(loaded)) == sorted(names)
