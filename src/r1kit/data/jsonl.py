"""Problems from rows: a local .json/.jsonl file, a Hugging Face hub dataset, or rows already loaded.

    task = JsonlMathTask("data/math.jsonl")                       # held-out test rows by a hash split
    task = JsonlMathTask("train.jsonl", test_path="test.jsonl")   # or given as a separate file
    bench = JsonlMathTask(rows=rows, name="gsm8k", test_fraction=1.0)   # a benchmark: every row is a test row
    bench.examples("test")                                        # every row, in file order

Held out means held out (issue 9). A local file is split by a hash of its normalised problem text
(`base.problem_key`), so the split is disjoint, the same for every seed and every `n`, and two
copies of one problem always land on the same side. With `test_path` the test rows come from that
file and any training row whose problem also appears there is dropped. A hub dataset uses its
"train"/"test" splits (training rows that repeat a test problem dropped); one without a test split
is hash-split like a local file.

Rows need a problem and an answer (keys configurable); other keys go into `Example.meta`. Subclasses
(code.py, choice.py) change only how a row becomes an `Example` and the `scorer`. `datasets` is
imported on first use so that `import r1kit.data` stays light.
"""

from __future__ import annotations

import os
from pathlib import Path

from r1kit.data.base import Example, Task, check_split, problem_key, split_of
from r1kit.errors import R1kitError

_LOCAL_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


class JsonlMathTask(Task):
    """Math problems from rows; `path` a local file or a hub dataset name, or `rows` already loaded."""

    name = "jsonl"
    scorer = "math"

    def __init__(self, path: str = "", rows: list[dict] | None = None, *, test_path: str = "",
                 test_fraction: float = 0.1, problem_key: str = "problem", answer_key: str = "answer",
                 name: str = "", hub_config: str = ""):
        if rows is None and not path:
            raise R1kitError(f"task {type(self).name!r} needs a path (a local file or a hub dataset) or rows")
        if not 0.0 <= float(test_fraction) <= 1.0:
            raise R1kitError(f"test_fraction must be in [0, 1], got {test_fraction!r}")
        self.path, self.test_path, self.test_fraction = str(path), str(test_path), float(test_fraction)
        self.problem_key, self.answer_key, self.hub_config = problem_key, answer_key, hub_config or None
        self.dataset_name = name or (_stem(self.path) if self.path else type(self).name)  # for ids and reports
        self.name = name or type(self).name
        self._splits: dict[str, list[Example]] | None = None
        if rows is not None or self._is_local(self.path):  # local errors surface at construction
            self._splits = self._split_local(rows)

    def examples(self, split: str = "test", n: int | None = None) -> list[Example]:
        """The first `n` rows of `split` in source order (all for n=None or 0)."""
        check_split(split)
        if self._splits is None:
            self._splits = self._split_hub()
        rows = self._splits[split]
        if not rows:
            raise R1kitError(f"{self.dataset_name}: no {split} rows (test_fraction={self.test_fraction:g}); "
                             f"set test_fraction or pass test_path")
        return rows[:n] if n else list(rows)

    # ---- splitting ----------------------------------------------------------------------------

    def _split_local(self, rows: list[dict] | None) -> dict[str, list[Example]]:
        loaded = rows if rows is not None else read_json_rows(self.path)
        examples = self._to_examples(loaded, self.dataset_name, self.path or self.dataset_name)
        if not self.test_path:
            return hash_split(examples, self.test_fraction)
        test = self._to_examples(read_json_rows(self.test_path), _stem(self.test_path), self.test_path)
        return {"train": without(examples, test), "test": test}

    def _split_hub(self) -> dict[str, list[Example]]:
        names = _hub_split_names(self.path, self.hub_config)
        if "test" not in names:  # no held-out split of its own: hash-split the first one
            source = "train" if "train" in names else names[0]
            return hash_split(self._to_examples(self._read_hub(source), self.dataset_name, self.path), self.test_fraction)
        test = self._to_examples(self._read_hub("test"), f"{self.dataset_name}-test", self.path)
        train = self._read_hub("train") if "train" in names else []
        return {"train": without(self._to_examples(train, f"{self.dataset_name}-train", self.path), test), "test": test}

    def _read_hub(self, split: str) -> list[dict]:
        try:
            return load_dataset_quietly(self.path, self.hub_config, split=split).to_list()
        except Exception as e:  # offline, unknown name, unknown split
            raise R1kitError(f"dataset not found: {self.path} (split {split!r}): {error_line(e)}") from None

    # ---- rows -> examples ---------------------------------------------------------------------

    def _to_examples(self, rows: list[dict], name: str, where: str) -> list[Example]:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise R1kitError(f"{where}: rows must be a list of JSON objects")
        return [self._to_example(name, i, row, where) for i, row in enumerate(rows)]

    def _to_example(self, name: str, i: int, row: dict, where: str) -> Example:
        problem, answer = row.get(self.problem_key), row.get(self.answer_key)
        for key, value in ((self.problem_key, problem), (self.answer_key, answer)):
            if value is None or str(value).strip() == "":
                raise R1kitError(f"{where}: row {i + 1} has no {key!r}")
        meta = {k: v for k, v in row.items() if k not in (self.problem_key, self.answer_key, "id")}
        return Example(row_id(row, name, i), str(problem), str(answer), meta)

    @staticmethod
    def _is_local(p: str) -> bool:
        return os.path.exists(p) or p.endswith(_LOCAL_SUFFIXES) or p.startswith(("/", ".", "~"))


def hash_split(examples: list[Example], test_fraction: float) -> dict[str, list[Example]]:
    """{"train": [...], "test": [...]} by `split_of(problem_key(problem))`, source order kept."""
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for ex in examples:
        out[split_of(problem_key(ex.problem), test_fraction)].append(ex)
    return out


def without(train: list[Example], test: list[Example]) -> list[Example]:
    """`train` less every example whose normalised problem text is a `test` problem."""
    held_out = {problem_key(ex.problem) for ex in test}
    return [ex for ex in train if problem_key(ex.problem) not in held_out]


def row_id(row: dict, name: str, i: int) -> str:
    """The row's own id (`id`, else `task_id`), else "<name>-<row index>"."""
    for key in ("id", "task_id"):
        if row.get(key) is not None and str(row[key]) != "":
            return str(row[key])
    return f"{name}-{i}"


def read_json_rows(path: str, what: str = "dataset") -> list[dict]:
    """Every row of a local .json/.jsonl file; R1kitError "<what> not found: <path>" or "cannot read ..."."""
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        raise R1kitError(f"{what} not found: {path}")
    try:
        return load_dataset_quietly("json", data_files=full, split="train").to_list()
    except Exception as e:  # malformed JSON, mixed column types, ...
        raise R1kitError(f"cannot read {path}: {error_line(e)}") from None


def _stem(path: str) -> str:
    return Path(path).name.split(".")[0]


def _hub_split_names(path: str, config: str | None) -> list[str]:
    try:
        import datasets

        names = list(datasets.get_dataset_split_names(path, config))
    except Exception as e:  # offline, unknown name, gated
        raise R1kitError(f"dataset not found: {path}: {error_line(e)}") from None
    if not names:
        raise R1kitError(f"dataset {path} has no splits")
    return names


def load_dataset_quietly(*args, **kwargs):
    """`datasets.load_dataset` without its progress bars (they would interleave with training logs)."""
    import datasets

    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        return datasets.load_dataset(*args, **kwargs)
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()


def error_line(e: Exception) -> str:
    """"<ExceptionType>: <first line of its message>", at most 300 characters, for one-line errors."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]
