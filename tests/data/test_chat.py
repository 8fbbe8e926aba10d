"""Chat rows: the open R1-trace shapes become `messages` with the reasoning inside the assistant turn;
bad files are one-line errors naming the stage, the file and the row."""

import json

import pytest

from r1kit.data.chat import load_conversations, to_messages
from r1kit.errors import R1kitError

THINK = "<think>\nadd the digits\n</think>\n\n5"
EXPECTED = [{"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": THINK}]


@pytest.mark.parametrize("row", [
    {"messages": EXPECTED},
    {"messages": [{"role": "user", "content": "What is 2+3?"},
                  {"role": "assistant", "content": "5", "reasoning_content": "add the digits"}]},
    {"conversations": [{"from": "human", "value": "What is 2+3?"}, {"from": "gpt", "value": THINK}]},
    {"conversations": [{"from": "user", "value": "What is 2+3?"},
                       {"from": "assistant", "value": "<|begin_of_thought|>\n\nadd the digits\n\n<|end_of_thought|>\n\n"
                                                      "<|begin_of_solution|>\n\n5\n\n<|end_of_solution|>"}]},
    {"problem": "What is 2+3?", "generation": THINK, "answer": "5"},
    {"question": "What is 2+3?", "response": THINK},
    {"problem": "What is 2+3?", "generations": None, "generation": [THINK, "other"]},
    {"question": "What is 2+3?", "thinking_trajectories": ["add the digits"], "attempt": "5"},
    {"prompt": "What is 2+3?", "reasoning": "add the digits", "completion": "5"},
], ids=["messages", "reasoning_content", "sharegpt", "openthoughts", "problem-generation", "question-response",
        "generation-list", "s1", "prompt-reasoning-completion"])
def test_trace_shapes_become_the_same_messages(row):
    assert to_messages(row) == EXPECTED


def test_system_prompt_of_sharegpt_rows_comes_first():
    row = {"system": "Be brief.", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    assert [m["role"] for m in to_messages(row)] == ["system", "user", "assistant"]


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_jsonl_json_and_parquet_load_alike(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"messages": EXPECTED}, {"problem": "What is 2+3?", "generation": THINK}]
    jsonl = write(tmp_path, "c.jsonl", rows)
    (tmp_path / "c.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist([{"question": "What is 2+3?", "response": THINK}] * 2), tmp_path / "c.parquet")
    for path in (jsonl, str(tmp_path / "c.json"), str(tmp_path / "c.parquet")):
        assert load_conversations(path) == [EXPECTED, EXPECTED]
    assert load_conversations(jsonl, limit=1) == [EXPECTED]


@pytest.mark.parametrize("content, message", [
    (None, "data file not found"),
    ("", "empty file"),
    ("\n", "no rows"),
    ('{"messages": [{"role": "user", "content": "hi"}]}\n', "row 1 has no assistant turn"),
    ('{"problem": "hi", "answer": "5"}\n', "row 1 has no assistant turn"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}\n',
     "row 1 has no assistant turn"),
    ('{"messages": EXPECTED}\n{"messages": [{"role": "robot", "content": "x"}]}\n'.replace(
        "EXPECTED", json.dumps(EXPECTED)), "row 2 has a turn with unknown role 'robot'"),
    ('{"messages": "hi"}\n', "row 1 has `messages` that is not a list"),
    ('{"messages": [}\n', "line 1 is not valid JSON"),
])
def test_bad_files_name_stage_file_and_row(tmp_path, content, message):
    path = tmp_path / "chat.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(R1kitError) as e:
        load_conversations(str(path), stage="sft")
    text = str(e.value)
    assert text.startswith("sft: ") and str(path) in text and message in text and "\n" not in text


def test_unreadable_parquet_is_one_line(tmp_path):
    path = tmp_path / "c.parquet"
    path.write_text("not parquet")
    with pytest.raises(R1kitError, match=r"^sft: cannot read .*c\.parquet"):
        load_conversations(str(path))


def test_dataset_folder_loads_through_datasets_by_split(tmp_path):
    """A folder as the hub stores a dataset (data/<split>-*.parquet) reads like a hub dataset, offline."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "ds" / "data").mkdir(parents=True)
    train = tmp_path / "ds/data/train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": EXPECTED}] * 3), train)
    other = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    pq.write_table(pa.Table.from_pylist([{"messages": other}]), tmp_path / "ds/data/test-00000-of-00001.parquet")
    folder = str(tmp_path / "ds")
    assert load_conversations(folder) == [EXPECTED] * 3
    assert load_conversations(folder, split="test") == [other]
    with pytest.raises(R1kitError, match=r"^sft: dataset not found: .*ds \(split 'validation'\)"):
        load_conversations(folder, split="validation")
