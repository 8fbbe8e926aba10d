"""load_preferences: the three row shapes, reasoning cut off, unpaired rows named, a disjoint held-out split."""

import json

import pytest

from r1kit.data.preference import load_preferences, toy_pairs
from r1kit.errors import R1kitError


def write(tmp_path, rows, name="prefs.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_row_shapes_give_the_same_pair(tmp_path):
    user = {"role": "user", "content": "What is 2+3?"}
    rows = [
        {"prompt": "What is 2+3?", "chosen": "<think>2 and 3</think> 5", "rejected": "6"},
        {"prompt": [user], "chosen": "5", "rejected": "<think>hmm</think>6"},
        {"chosen": [user, {"role": "assistant", "content": "5"}],
         "rejected": [user, {"role": "assistant", "content": "6"}]},
    ]
    pairs = load_preferences(write(tmp_path, rows))
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [((user,), "5", "6")] * 3
    assert [p.id for p in pairs] == ["prefs-000001", "prefs-000002", "prefs-000003"]


@pytest.mark.parametrize("row, says", [
    ({"prompt": "q", "chosen": "a"}, "unpaired row: no rejected"),
    ({"prompt": "q", "rejected": "a"}, "unpaired row: no chosen"),
    ({"prompt": "q", "chosen": "", "rejected": "b"}, "unpaired row: no chosen"),
    ({"chosen": "a", "rejected": "b"}, "no prompt"),
    ({"prompt": "q", "chosen": 3, "rejected": "b"}, "chosen must be"),
    ({"prompt": "q", "chosen": "<think>never closed", "rejected": "b"}, "never closed"),
    ({"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}],
      "rejected": [{"role": "user", "content": "y"}, {"role": "assistant", "content": "b"}]}, "differ"),
    ([1, 2], "JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_rows_name_the_stage_the_file_and_the_line(tmp_path, row, says):
    path = write(tmp_path, [{"prompt": "ok", "chosen": "a", "rejected": "b"}, row])
    with pytest.raises(R1kitError) as err:
        load_preferences(path)
    msg = str(err.value)
    assert msg.startswith(f"rm: {path} line 2: ") and says in msg and "\n" not in msg


def test_missing_file_and_empty_split(tmp_path):
    with pytest.raises(R1kitError, match="rm: preference file not found"):
        load_preferences(tmp_path / "nope.jsonl")
    with pytest.raises(R1kitError, match="no test preference pairs"):
        load_preferences(write(tmp_path, [{"prompt": "q", "chosen": "a", "rejected": "b"}]), "test", test_fraction=0.0)


def test_held_out_split_is_disjoint_by_prompt_and_covers_the_file(tmp_path):
    rows = toy_pairs(300, seed=1)
    rows += [dict(r, chosen=r["chosen"] + "!") for r in rows[:50]]         # the same prompts again
    path = write(tmp_path, rows)
    train, test = load_preferences(path, "train", 0.2), load_preferences(path, "test", 0.2)
    assert len(train) + len(test) == len(rows)
    assert not {p.prompt_text for p in train} & {p.prompt_text for p in test}
    assert 0.1 < len(test) / len(rows) < 0.3


def test_toy_pairs_are_separable_by_the_final_answer():
    row = toy_pairs(1, seed=0)[0]
    a, b = map(int, row["prompt"][len("What is "):-1].split(" + "))
    assert row["chosen"].endswith(f"</think> {a + b}") and row["rejected"].endswith("I am not sure.")
