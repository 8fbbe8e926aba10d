"""Benchmarks by name: where their rows come from and which Task holds them (the only benchmark abstraction).

    task = load_benchmark("aime24", data_dir="../shared/data")      # local <data_dir>/aime24.jsonl
    task = load_benchmark("math500")                                 # the hub copy (online)
    task = load_benchmark("my.jsonl", scorer="math")                 # a custom benchmark
    examples, k = benchmark_examples(task, limit=0), default_samples("aime24")     # every row, k = 64

A name resolves to rows in this order: an explicit `path` (a local file or a hub dataset name),
then `<data_dir>/<file>` (data_dir defaults to $R1KIT_DATA), then the hub dataset named in SPECS.
Local files use shared/data's schemas (math: id, problem, answer; code: id, prompt, tests; choice:
id, problem, choices, answer letter); hub rows are mapped by each spec's `columns`. The rows become a
data task by scorer (JsonlMathTask, JsonlChoiceTask, JsonlCodeTask) with test_fraction=1.0: every row
is a test row. arithmetic and countdown are the synthetic tasks themselves. Scoring is the task's
`scorer` through r1kit.verify, as in training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from r1kit.errors import R1kitError

CUSTOM_SCORERS = ("math", "choice", "code")  # what a custom .jsonl benchmark may be scored as
CUSTOM_SAMPLES = 8
SYNTHETIC_PROBLEMS = 100  # test problems of a synthetic task when no limit is given


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
    "arithmetic": BenchmarkSpec("arithmetic", 8),
    "countdown": BenchmarkSpec("countdown", 8),
}
SYNTHETIC = ("arithmetic", "countdown")  # tasks that make their own problems; their scorer is their name


def default_samples(name: str) -> int:
    """The report's k for benchmark `name` (SPECS); a custom file gets CUSTOM_SAMPLES."""
    return SPECS[name].samples if name in SPECS else CUSTOM_SAMPLES


def load_benchmark(name: str, path: str = "", data_dir: str = "", scorer: str = "", task_args: dict | None = None):
    """The Task of benchmark `name` (module docstring); R1kitError for unknown names or bad rows."""
    spec = SPECS.get(name)
    if spec is None:
        if not name.endswith((".jsonl", ".json")) and not path:
            raise R1kitError(f"unknown benchmark {name!r}; valid: {', '.join(sorted(SPECS))}, "
                             f"or a .jsonl file with --scorer math|choice|code")
        if scorer not in CUSTOM_SCORERS:
            raise R1kitError(f"a custom benchmark needs --scorer math, choice or code (got {scorer!r})")
        spec = BenchmarkSpec(scorer, CUSTOM_SAMPLES)
        path = path or name
        name = Path(name).name.split(".")[0]
    if spec.scorer in SYNTHETIC:
        from r1kit.data.tasks import get_task

        return get_task(name, **(task_args or {}))
    rows = [_mapped(name, spec, row) for row in _rows(name, spec, path, data_dir)]
    return _task_class(spec.scorer)(rows=rows, name=name, test_fraction=1.0)


def benchmark_examples(task, limit: int = 0) -> list:
    """The problems a benchmark is evaluated on: its test rows in order (the first `limit`), or for a
    synthetic task its first `limit` (default SYNTHETIC_PROBLEMS) test problems."""
    if task.scorer in SYNTHETIC:
        return task.examples("test", limit or SYNTHETIC_PROBLEMS)
    return task.examples("test", limit or None)


def _task_class(scorer: str):
    from r1kit.data.choice import JsonlChoiceTask
    from r1kit.data.code import JsonlCodeTask
    from r1kit.data.jsonl import JsonlMathTask

    return {"math": JsonlMathTask, "choice": JsonlChoiceTask, "code": JsonlCodeTask}[scorer]


def _rows(name: str, spec: BenchmarkSpec, path: str, data_dir: str) -> list[dict]:
    from r1kit.data.jsonl import error_line, load_dataset_quietly, read_json_rows

    data_dir = data_dir or os.environ.get("R1KIT_DATA", "")
    local = path or (str(Path(data_dir) / spec.file) if data_dir and (Path(data_dir) / spec.file).is_file() else "")
    if local and (os.path.exists(local) or local.endswith((".jsonl", ".json"))):
        return read_json_rows(local, what="benchmark file")
    hub = local or spec.hub
    if not hub:
        raise R1kitError(f"benchmark {name!r} has no hub copy: pass its data file with --data")
    try:
        return load_dataset_quietly(hub, spec.hub_config, split=spec.hub_split).to_list()
    except Exception as e:  # offline, gated (GPQA), unknown name
        raise R1kitError(f"cannot load benchmark {name!r} from the hub ({hub}): {error_line(e)}; "
                         f"pass a local file with --data or a folder with --data_dir") from None


def _mapped(name: str, spec: BenchmarkSpec, row: dict) -> dict:
    """A hub row in our schema: columns renamed by the spec; GSM8K's "work #### 42" answer cut to "42"."""
    row = {ours: row[theirs] for ours, theirs in spec.columns.items() if theirs in row} | row
    answer = row.get("answer")
    if name == "gsm8k" and isinstance(answer, str) and "####" in answer:
        row["answer"] = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return row
