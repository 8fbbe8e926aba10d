"""Benchmarks by name: where their rows come from, how a row becomes an `Example`, how it is scored.

    bench = load_benchmark("aime24", data_dir="../shared/data")      # local <data_dir>/aime24.jsonl
    bench = load_benchmark("math500")                                 # the hub copy (online)
    bench = load_benchmark("my.jsonl", scorer="math")                 # a custom benchmark

A name resolves to rows in this order: an explicit `path` (a local file or a hub dataset name),
then `<data_dir>/<file>` (data_dir defaults to $R1KIT_DATA), then the hub dataset named in SPECS.
Local files use shared/data's schemas (math: id, problem, answer; code: id, prompt, tests; choice:
id, problem, choices, answer letter); hub rows are mapped by each spec's `columns`.
Scorers: "math" (Math-Verify on the extracted answer), "choice" (the chosen letter), "code" (the
program's tests in the sandbox, all must pass), "task" (a synthetic task's own `verify`).
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from r1kit.data.base import Example
from r1kit.errors import R1kitError

SCORERS = ("math", "choice", "code", "task")


@dataclass(frozen=True)
class BenchmarkSpec:
    scorer: str
    samples: int  # the report's k for this benchmark (pass@1 averaged over k samples)
    file: str = ""  # file name under a data dir
    hub: str = ""  # hub dataset id
    hub_config: str | None = None
    hub_split: str = "test"
    columns: dict = field(default_factory=dict)  # our key -> hub column


SPECS: dict[str, BenchmarkSpec] = {
    "aime24": BenchmarkSpec("math", 64, "aime24.jsonl", "HuggingFaceH4/aime_2024", hub_split="train"),
    "aime25": BenchmarkSpec("math", 64, "aime25.jsonl", "opencompass/AIME2025", "AIME2025-I",
                            columns={"problem": "question"}),
    "amc23": BenchmarkSpec("math", 16, "amc23.jsonl", "math-ai/amc23"),
    "math500": BenchmarkSpec("math", 16, "math500.jsonl", "HuggingFaceH4/MATH-500",
                             columns={"id": "unique_id"}),
    "gsm8k": BenchmarkSpec("math", 8, "gsm8k_test.jsonl", "openai/gsm8k", "main",
                           columns={"problem": "question"}),
    "gpqa_diamond": BenchmarkSpec("choice", 64, "gpqa_diamond.jsonl", "Idavidrein/gpqa", "gpqa_diamond",
                                  hub_split="train"),
    "humaneval": BenchmarkSpec("code", 8, "humaneval.jsonl", "openai/openai_humaneval"),
    "mbpp": BenchmarkSpec("code", 8, "mbpp_sanitized.jsonl", "google-research-datasets/mbpp", "sanitized"),
    "arithmetic": BenchmarkSpec("task", 8),
    "countdown": BenchmarkSpec("task", 8),
}


@dataclass
class Benchmark:
    """A loaded benchmark: its examples, scorer, default k and (for synthetic ones) its task."""

    name: str
    scorer: str
    samples: int
    examples: list[Example]
    task: object = None  # the Task that scores a "task" benchmark


def load_benchmark(name: str, path: str = "", data_dir: str = "", scorer: str = "", limit: int = 0,
                   task_args: dict | None = None) -> Benchmark:
    """Resolve and load benchmark `name` (module docstring); R1kitError for unknown names or bad rows."""
    spec = SPECS.get(name)
    if spec is None:
        if not name.endswith((".jsonl", ".json")) and not path:
            raise R1kitError(f"unknown benchmark {name!r}; valid: {', '.join(sorted(SPECS))}, "
                             f"or a .jsonl file with --scorer math|choice|code")
        if scorer not in SCORERS or scorer == "task":
            raise R1kitError(f"a custom benchmark needs --scorer math, choice or code (got {scorer!r})")
        spec = BenchmarkSpec(scorer, 8)
        path = path or name
        name = Path(name).name.split(".")[0]
    if spec.scorer == "task":
        return _synthetic(name, spec, limit, task_args or {})
    rows = _rows(name, spec, path, data_dir)
    examples = [_to_example(name, spec, i, row) for i, row in enumerate(rows)]
    return Benchmark(name, spec.scorer, spec.samples, examples[:limit] if limit else examples)


def _synthetic(name: str, spec: BenchmarkSpec, limit: int, task_args: dict) -> Benchmark:
    from r1kit.data.tasks import get_task

    task = get_task(name, **task_args)
    return Benchmark(name, "task", spec.samples, task.examples("test", limit or 100), task)


def _rows(name: str, spec: BenchmarkSpec, path: str, data_dir: str) -> list[dict]:
    from r1kit.data.jsonl import _one_line, _quiet_load, read_json_rows

    data_dir = data_dir or os.environ.get("R1KIT_DATA", "")
    local = path or (str(Path(data_dir) / spec.file) if data_dir and (Path(data_dir) / spec.file).is_file() else "")
    if local and (os.path.exists(local) or local.endswith((".jsonl", ".json"))):
        return read_json_rows(local, what="benchmark file")
    hub = local or spec.hub
    if not hub:
        raise R1kitError(f"benchmark {name!r} has no hub copy: pass its data file with --data")
    try:
        return _quiet_load(hub, spec.hub_config, split=spec.hub_split).to_list()
    except Exception as e:  # offline, gated (GPQA), unknown name
        raise R1kitError(f"cannot load benchmark {name!r} from the hub ({hub}): {_one_line(e)}; "
                         f"pass a local file with --data or a folder with --data_dir") from None


def _to_example(name: str, spec: BenchmarkSpec, i: int, row: dict) -> Example:
    row = {ours: row[theirs] for ours, theirs in spec.columns.items() if theirs in row} | row
    row_id = str(row.get("id") if row.get("id") is not None else f"{name}-{i}")
    if spec.scorer == "code":
        from r1kit.data.code import code_example

        return code_example(name, i, row)
    if spec.scorer == "choice":
        return _choice_example(name, i, row_id, row)
    problem, answer = row.get("problem"), row.get("answer")
    if name == "gsm8k" and isinstance(answer, str) and "####" in answer:  # the hub's "work #### 42" form
        answer = answer.rsplit("####", 1)[1].strip().replace(",", "")
    for key, value in (("problem", problem), ("answer", answer)):
        if value is None or str(value).strip() == "":
            raise R1kitError(f"{name}: row {i + 1} has no {key!r}")
    return Example(row_id, str(problem), str(answer), {k: v for k, v in row.items() if k not in ("problem", "answer")})


def _choice_example(name: str, i: int, row_id: str, row: dict) -> Example:
    """GPQA: our schema {problem, choices, answer letter}, or the hub's Question / Correct Answer /
    Incorrect Answer 1-3, whose choices are shuffled by a hash of the question (fixed per problem)."""
    if "Question" in row:
        correct = str(row["Correct Answer"]).strip()
        choices = [correct] + [str(row[f"Incorrect Answer {j}"]).strip() for j in (1, 2, 3)]
        seed = int.from_bytes(hashlib.sha256(str(row["Question"]).encode()).digest()[:8], "big")
        random.Random(seed).shuffle(choices)
        problem, answer = str(row["Question"]).strip(), "ABCD"[choices.index(correct)]
    else:
        problem, choices, answer = row.get("problem"), row.get("choices"), str(row.get("answer", "")).strip()
    if not problem or not isinstance(choices, list) or not 2 <= len(choices) <= 26:
        raise R1kitError(f"{name}: row {i + 1} needs a problem and a list of 2-26 choices")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(choices)]
    if answer.upper() not in letters or len(answer) != 1:
        raise R1kitError(f"{name}: row {i + 1} has answer {answer!r}, not one of the letters {letters}")
    return Example(row_id, str(problem), answer.upper(), {"choices": [str(c) for c in choices]})
