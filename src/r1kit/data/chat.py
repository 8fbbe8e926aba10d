"""Chat rows for supervised fine-tuning: every row becomes one conversation, a `messages` list.

    convs = load_conversations("traces.jsonl", stage="sft")   # or .json, .parquet, a hub dataset or its folder
    convs[0]  # [{"role": "user", "content": "What is 2+3?"},
              #  {"role": "assistant", "content": "<think>\\n...\\n</think>\\n\\n5"}]

The reasoning stays inside the assistant turn as `<think>…</think>` followed by the answer, the form
DeepSeek-R1 writes and the r1kit chat template renders. The common open R1-trace shapes load without
conversion (`to_messages`; the first that matches wins):

- `messages`: [{role, content}], itself; an assistant turn's `reasoning_content` goes in front of its
  content as "<think>\\n…\\n</think>\\n\\n" (`r1kit generate` writes this shape: filtered.jsonl).
- `conversations`: [{from, value}] (ShareGPT), roles human/user, gpt/assistant/model, system; a top-level
  `system` becomes the first turn.
- a prompt (`problem`, `question`, `prompt`, `instruction`, `input`) and a response (`generation`,
  `generations`, `response`, `completion`, `output`, `attempt`; a list: its first), optionally reasoning
  (`reasoning`, `thinking`, `reasoning_content`, `thinking_trajectories`), wrapped in `<think>`.

`<|begin_of_thought|>…<|end_of_thought|>` (and the `<|begin/end_of_solution|>` markers around the answer)
become `<think>\\n…\\n</think>\\n\\n…`. A row that yields no assistant turn is an R1kitError naming the
stage, the file and the row: a chat file without an answer has nothing to train on.
"""

from __future__ import annotations

import json
import os

from r1kit.errors import R1kitError

PROMPT_KEYS = ("problem", "question", "prompt", "instruction", "input")
RESPONSE_KEYS = ("generation", "generations", "response", "completion", "output", "attempt")
REASONING_KEYS = ("reasoning", "thinking", "reasoning_content", "thinking_trajectories")
ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
         "model": "assistant"}
_LOCAL_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".parquet")


def load_conversations(path: str, *, stage: str = "sft", split: str = "train", hub_config: str = "",
                       limit: int = 0) -> list[list[dict]]:
    """Every row of `path` as a messages list (the module docstring's table); the first `limit` rows if > 0.

    path: a local .jsonl/.json/.parquet file, or a hub dataset name or dataset folder (its `split`).
    Errors are one line, "<stage>: <path>: ...": missing or empty file, an unreadable row, a row without
    an assistant turn.
    """
    rows = _read_rows(path, stage, split, hub_config)
    if limit > 0:
        rows = rows[:limit]
    if not rows:
        raise R1kitError(f"{stage}: {path}: no rows")
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(to_messages(row))
        except ValueError as e:
            raise R1kitError(f"{stage}: {path}: row {i + 1} {e}") from None
    return out


def to_messages(row: dict) -> list[dict]:
    """One row as [{"role", "content"}, ...]; ValueError (a phrase to follow "row N") when it has no
    assistant turn or is malformed."""
    if not isinstance(row, dict):
        raise ValueError("is not a JSON object")
    if row.get("messages") is not None:
        messages = [_message(m, "role", "content") for m in _turns(row["messages"], "messages")]
    elif row.get("conversations") is not None:
        messages = [_message(m, "from", "value") for m in _turns(row["conversations"], "conversations")]
        if isinstance(row.get("system"), str) and row["system"].strip():
            messages = [{"role": "system", "content": row["system"]}] + messages
    else:
        messages = _pair_messages(row)
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise ValueError("has no assistant turn (expected `messages`, `conversations`, or a prompt and a response)")
    return messages


def with_reasoning(reasoning: str | None, answer: str) -> str:
    """The assistant content R1 writes, "<think>\\n{reasoning}\\n</think>\\n\\n{answer}"; the answer alone
    when there is no reasoning."""
    if reasoning is None or not str(reasoning).strip():
        return answer
    return f"<think>\n{str(reasoning).strip()}\n</think>\n\n{answer.lstrip()}"


def _turns(value, key: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"has `{key}` that is not a list")
    return value


def _message(m, role_key: str, content_key: str) -> dict:
    if not isinstance(m, dict) or not isinstance(m.get(content_key), str):
        raise ValueError(f"has a turn without a text `{content_key}`")
    role = ROLES.get(str(m.get(role_key, "")).lower())
    if role is None:
        raise ValueError(f"has a turn with unknown {role_key} {m.get(role_key)!r} (valid: {', '.join(ROLES)})")
    content = _thought_markers(m[content_key])
    if role == "assistant" and m.get("reasoning_content"):
        content = with_reasoning(m["reasoning_content"], content)
    return {"role": role, "content": content}


def _pair_messages(row: dict) -> list[dict]:
    prompt = next((row[k] for k in PROMPT_KEYS if isinstance(row.get(k), str) and row[k].strip()), None)
    response = next((row[k] for k in RESPONSE_KEYS if row.get(k) is not None), None)
    if isinstance(response, list):  # several generations of one problem (OpenR1-style): the first
        response = response[0] if response else None
    if prompt is None or not isinstance(response, str):
        return [{"role": "user", "content": prompt}] if prompt else []
    reasoning = next((row[k] for k in REASONING_KEYS if row.get(k)), None)
    if isinstance(reasoning, list):
        reasoning = reasoning[0] if reasoning else None
    return [{"role": "user", "content": prompt},
            {"role": "assistant", "content": with_reasoning(reasoning, _thought_markers(response))}]


def _thought_markers(text: str) -> str:
    """Bespoke/OpenThoughts markers as R1's tags; other text unchanged."""
    if "<|begin_of_thought|>" not in text:
        return text
    head, _, rest = text.partition("<|begin_of_thought|>")
    thought, _, answer = rest.partition("<|end_of_thought|>")
    answer = answer.replace("<|begin_of_solution|>", "").replace("<|end_of_solution|>", "").strip()
    return head + with_reasoning(thought, answer)


def _read_rows(path: str, stage: str, split: str, hub_config: str) -> list:
    if not path:
        raise R1kitError(f"{stage}: data.path is not set")
    full = os.path.expanduser(path)
    local = os.path.exists(full) or path.endswith(_LOCAL_SUFFIXES) or path.startswith(("/", ".", "~"))
    if not local or os.path.isdir(full):  # a hub name, or a dataset folder (datasets reads its files)
        return _read_hub(full if local else path, stage, split, hub_config)
    if not os.path.isfile(full):
        raise R1kitError(f"{stage}: data file not found: {path}")
    if os.path.getsize(full) == 0:
        raise R1kitError(f"{stage}: {path}: empty file")
    if path.endswith(".parquet"):
        return _read_parquet(full, path, stage)
    return _read_json(full, path, stage)


def _read_json(full: str, path: str, stage: str) -> list:
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(full, "rt", encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".json", ".json.gz")) and text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise R1kitError(f"{stage}: {path}: not valid JSON: {e}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise R1kitError(f"{stage}: {path}: line {n} is not valid JSON: {e}") from None
    return rows


def _read_parquet(full: str, path: str, stage: str) -> list:
    try:
        import pyarrow.parquet as pq

        return pq.read_table(full).to_pylist()
    except Exception as e:  # not a parquet file, truncated
        raise R1kitError(f"{stage}: cannot read {path}: {type(e).__name__}: {str(e).strip()[:200]}") from None


def _read_hub(name: str, stage: str, split: str, hub_config: str) -> list:
    from r1kit.data.jsonl import error_line, load_dataset_quietly

    try:
        return load_dataset_quietly(name, hub_config or None, split=split).to_list()
    except Exception as e:  # offline, unknown name, unknown split
        raise R1kitError(f"{stage}: dataset not found: {name} (split {split!r}): {error_line(e)}") from None

