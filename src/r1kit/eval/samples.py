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
    """Samples of one benchmark on disk and in memory, keyed by (problem id, sample index < k)."""

    def __init__(self, path: Path, bench, k: int):
        self.path, self.bench, self.k = Path(path), bench, k
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids = {ex.id for ex in bench.examples}
        self.records: dict[tuple[str, int], dict] = {}
        for rec in _read_complete_lines(self.path):
            key = (str(rec.get("problem_id")), rec.get("sample"))
            if key[0] in ids and isinstance(key[1], int) and 0 <= key[1] < k:
                self.records.setdefault(key, rec)
        self._file = self.path.open("a", encoding="utf-8")
        self._correct = sum(bool(r.get("correct")) for r in self.records.values())

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def running_pass_at_1(self) -> float:
        return self._correct / max(1, len(self.records))

    def missing(self, example) -> list[int]:
        """Sample indices of `example` not yet on disk."""
        return [i for i in range(self.k) if (example.id, i) not in self.records]

    def write(self, example, indices: list[int], completions) -> None:
        """Score `completions` (filling sample `indices` of `example`) and append the new ones."""
        from r1kit.eval.scoring import score

        scored = score(self.bench, [c.text for c in completions], [example] * len(completions))
        for index, c, (answer, correct) in zip(indices, completions, scored):
            if (example.id, index) in self.records:
                continue
            rec = {"problem_id": example.id, "sample": index, "answer": answer, "correct": correct,
                   "tokens": c.tokens, "finish_reason": c.finish_reason, "completion": c.text,
                   "reasoning": c.reasoning}
            self._file.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.records[(example.id, index)] = rec
            self._correct += bool(correct)
        self._file.flush()

    def summary(self) -> dict:
        """r1kit.eval.metrics.summarize over every problem with samples, plus cons@k by equivalence."""
        from r1kit.eval.metrics import cons_at_k, summarize
        from r1kit.eval.scoring import equivalence

        same = equivalence(self.bench)
        per_problem = []
        for ex in self.bench.examples:
            recs = [self.records[(ex.id, i)] for i in range(self.k) if (ex.id, i) in self.records]
            if not recs:
                continue
            answers, correct = [r["answer"] for r in recs], [bool(r["correct"]) for r in recs]
            per_problem.append({"correct": correct, "answers": answers, "tokens": [r["tokens"] for r in recs],
                                "finish": [r["finish_reason"] for r in recs],
                                "cons": cons_at_k(answers, correct, same) if same else None})
        self._file.close()
        return summarize(per_problem)


def _read_complete_lines(path: Path) -> list[dict]:
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
