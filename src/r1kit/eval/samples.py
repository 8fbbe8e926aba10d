"""The per-sample file of an evaluation: one JSON line per (problem, sample), append-only, resumable.

    {"problem_id": "aime24-I-1", "sample": 3, "answer": "204", "correct": true, "tokens": 1234,
     "finish_reason": "stop", "completion": "...", "reasoning": "..."}

Lines are written and flushed as samples are scored, so a killed run loses at most the line being
written; on reopening, a torn last line is cut off and every complete line is read back. A
(problem, sample) pair is kept once, whatever the file holds, so nothing is counted twice.
"""

from __future__ import annotations

import json
from pathlib import Path


class SampleLog:
    """Samples of one benchmark on disk and in memory, keyed by (problem id, sample index < k).

    Samples arrive already scored (rollout.evaluate.SampleRecord, by r1kit.verify); this file only keeps them.
    """

    def __init__(self, path: Path, examples: list, k: int, scorer: str):
        self.path, self.examples, self.k, self.scorer = Path(path), examples, k, scorer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids = {ex.id for ex in examples}
        self.records: dict[tuple[str, int], dict] = {}
        for rec in read_complete_lines(self.path):
            key = (str(rec.get("problem_id")), rec.get("sample"))
            if key[0] in ids and isinstance(key[1], int) and 0 <= key[1] < k:
                self.records.setdefault(key, rec)
        self._file = self.path.open("a", encoding="utf-8")
        self._correct = sum(r.get("correct") is True for r in self.records.values())
        self._scored = sum(r.get("correct") is not None for r in self.records.values())

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def running_pass_at_1(self) -> float:
        return self._correct / max(1, self._scored)

    def missing(self, example) -> list[int]:
        """Sample indices of `example` not yet on disk."""
        return [i for i in range(self.k) if (example.id, i) not in self.records]

    def write(self, records: list) -> None:
        """Append the scored samples (SampleRecord) not yet on disk, and flush."""
        from dataclasses import asdict

        for r in records:
            key = (r.problem_id, r.sample)
            if key in self.records:
                continue
            rec = asdict(r)
            self._file.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.records[key] = rec
            self._correct += r.correct is True
            self._scored += r.correct is not None
        self._file.flush()

    def summary(self) -> dict:
        """r1kit.eval.metrics.summarize over every problem with a scored sample, cons@k by verify.equivalent
        (none for code: programs are not voted on). Unscored samples (the gold cannot be checked) are left
        out; "unscored" counts the problems left with none."""
        from r1kit.eval.metrics import cons_at_k, summarize

        same = None if self.scorer == "code" else _same(self.scorer)
        per_problem, unscored = [], 0
        for ex in self.examples:
            recs = [self.records[(ex.id, i)] for i in range(self.k) if (ex.id, i) in self.records]
            scored = [r for r in recs if r.get("correct") is not None]
            unscored += bool(recs) and not scored
            if not scored:
                continue
            answers, correct = [r["answer"] for r in scored], [bool(r["correct"]) for r in scored]
            per_problem.append({"correct": correct, "answers": answers, "tokens": [r["tokens"] for r in scored],
                                "finish": [r["finish_reason"] for r in scored],
                                "cons": cons_at_k(answers, correct, same) if same else None})
        self._file.close()
        if not per_problem:
            from r1kit.errors import R1kitError

            raise R1kitError(f"{self.path.parent.name}: no sample could be scored (no gold answer can be checked)")
        return {**summarize(per_problem), "unscored": unscored}


def _same(scorer: str):
    from r1kit.verify import equivalent

    return lambda pairs: equivalent(scorer, pairs)


def read_complete_lines(path: Path) -> list[dict]:
    """Every complete JSON line; a torn last line (a killed write) is cut from the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    records = []
    for line in data[:end].splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a damaged line: its sample counts as missing and is sampled again
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records
