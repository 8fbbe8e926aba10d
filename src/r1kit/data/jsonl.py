"""Math problems from a JSON/JSONL file (or a Hugging Face hub dataset), scored by Math-Verify.

    task = JsonlMathTask("../shared/data/gsm8k_test.jsonl")
    task.examples("test", n=None)          # every row, in file order

Rows need a problem and an answer (keys configurable); any other keys go into `Example.meta`.
A local file is read whole; `split` only matters for hub datasets, where it names the split.
`datasets` is imported on first use so that `import r1kit.data` stays light.
"""

from __future__ import annotations

import os
from pathlib import Path

from r1kit.data.base import Example, Task
from r1kit.errors import R1kitError

_LOCAL_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


class JsonlMathTask(Task):
    """A fixed list of math problems. `path`: a local .json/.jsonl file or a hub dataset name."""

    name = "jsonl"

    def __init__(self, path: str, split: str = "test", problem_key: str = "problem", answer_key: str = "answer"):
        self.path, self.split = str(path), split
        self.problem_key, self.answer_key = problem_key, answer_key
        self.dataset_name = Path(self.path).name.split(".")[0]  # e.g. "gsm8k_test", for reports
        self._rows = {split: self._load(split)}

    def examples(self, split: str = "test", n: int | None = None) -> list[Example]:
        """The first `n` rows (all for n=None or 0). For a local file `split` is ignored."""
        key = self.split if self._is_local() else split
        if key not in self._rows:
            self._rows[key] = self._load(key)
        rows = self._rows[key]
        return rows[:n] if n else list(rows)

    def verify(self, answer: str | None, example: Example) -> float:
        return self.verify_batch([answer], [example])[0]

    def verify_batch(self, answers: list[str | None], examples: list[Example]) -> list[float]:
        """Extract the final answer (\\boxed{...}, ..) and compare with Math-Verify in parallel workers."""
        from r1kit.verify.math import extract_math_answer, verify_math_batch  # rewards imports data

        try:
            preds = [(extract_math_answer(a) or a) if isinstance(a, str) else None for a in answers]
            pairs = [(p, ex.answer) for p, ex in zip(preds, examples)]
            return verify_math_batch(pairs)
        except Exception:  # the reward contract: never raise
            return [0.0] * len(answers)

    def _is_local(self) -> bool:
        p = self.path
        return os.path.exists(p) or p.endswith(_LOCAL_SUFFIXES) or p.startswith(("/", ".", "~"))

    def _load(self, split: str) -> list[Example]:
        records = self._read_local() if self._is_local() else self._read_hub(split)
        return [self._to_example(i, row) for i, row in enumerate(records)]

    def _read_local(self) -> list[dict]:
        return read_json_rows(self.path)

    def _read_hub(self, split: str) -> list[dict]:
        try:
            return _quiet_load(self.path, split=split).to_list()
        except Exception as e:  # offline, unknown name, unknown split
            raise R1kitError(f"dataset not found: {self.path} (split {split!r}): {_one_line(e)}") from None

    def _to_example(self, i: int, row: dict) -> Example:
        problem, answer = row.get(self.problem_key), row.get(self.answer_key)
        for key, value in ((self.problem_key, problem), (self.answer_key, answer)):
            if value is None or str(value).strip() == "":
                raise R1kitError(f"{self.path}: row {i + 1} has no {key!r}")
        meta = {k: v for k, v in row.items() if k not in (self.problem_key, self.answer_key, "id")}
        row_id = row.get("id")
        row_id = str(row_id) if row_id is not None else f"{self.dataset_name}-{i}"
        return Example(row_id, str(problem), str(answer), meta)


def read_json_rows(path: str, what: str = "dataset") -> list[dict]:
    """Every row of a local .json/.jsonl file; R1kitError "<what> not found: <path>" or "cannot read ..."."""
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        raise R1kitError(f"{what} not found: {path}")
    try:
        return _quiet_load("json", data_files=full, split="train").to_list()
    except Exception as e:  # malformed JSON, mixed column types, ...
        raise R1kitError(f"cannot read {path}: {_one_line(e)}") from None


def _quiet_load(*args, **kwargs):
    """`datasets.load_dataset` without its progress bars (they would interleave with training logs)."""
    import datasets

    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        return datasets.load_dataset(*args, **kwargs)
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]
