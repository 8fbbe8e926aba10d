"""Markdown report tables in the shape of the DeepSeek-R1 report's Table 5 (arXiv 2501.12948).

    markdown_table([{"model": "mine", "benchmark": "aime24", "summary": summarize(...)}, ...], reference=True)

One row per model, one column group per benchmark (pass@1, then cons@k where it was computed), values in
percent as "mean ± stderr". `reference=True` appends the report's published numbers (reference.json) below a
separator row, for comparison; the report gives no error bars, so those cells are plain numbers.
"""

import json
from importlib.resources import files

BENCHMARK_NAMES = {
    "aime24": "AIME 2024",
    "aime25": "AIME 2025",
    "amc23": "AMC 2023",
    "math500": "MATH-500",
    "gsm8k": "GSM8K",
    "gpqa_diamond": "GPQA Diamond",
    "humaneval": "HumanEval",
    "mbpp": "MBPP",
}
"""Benchmark key -> display name; a key not listed is shown as itself."""

MISSING = "—"
REFERENCE_LABEL = "*reported, arXiv 2501.12948*"


def display_name(benchmark: str) -> str:
    return BENCHMARK_NAMES.get(benchmark, benchmark)


def load_reference() -> dict:
    """The report's published numbers: {"source", "units", "models": {model: {benchmark: {metric: %}}}}."""
    text = files("r1kit.eval").joinpath("reference.json").read_text(encoding="utf-8")
    return json.loads(text)


def cons_label(summary: dict) -> str | None:
    """Column metric for a summary's cons@k, with the actual k ("cons@8"); None if it was not computed."""
    if summary.get("cons@k") is None:
        return None
    lo, hi = summary["samples_per_problem"]["min"], summary["samples_per_problem"]["max"]
    return f"cons@{hi}" if lo == hi else f"cons@{lo}-{hi}"


def _fmt(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['stderr']:.1f}"


def _columns(rows: list[dict]) -> list[tuple[str, str]]:
    """(benchmark, metric) columns: benchmarks in first-appearance order, pass@1 first within each."""
    metrics: dict[str, list[str]] = {}
    for r in rows:
        ms = metrics.setdefault(r["benchmark"], ["pass@1"])
        label = cons_label(r["summary"])
        if label is not None and label not in ms:
            ms.append(label)
    return [(b, m) for b, ms in metrics.items() for m in ms]


def _reference_cells(entry: dict, columns: list[tuple[str, str]]) -> list[str]:
    cells = []
    for b, m in columns:
        scores = entry.get(b)
        value = scores.get(m) if isinstance(scores, dict) else None   # e.g. codeforces_rating is a bare number
        cells.append(MISSING if value is None else f"{value:.1f}")
    return cells


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(rows: list[dict], reference: bool | list[str] = False) -> str:
    """Render summaries as a Table-5-shaped markdown table (see the module docstring).

    rows: {"model": str, "benchmark": str, "summary": summarize() output}, at most one per (model, benchmark).
    reference: True adds the models of reference.json with a number for these benchmarks (none: no block);
    a list of names adds those, numbers or not (unknown name: ValueError).
    A cell with no number is "—"; a reference cell needs the exact metric (the report's cons@64 does not
    fill a cons@8 column).
    """
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    columns = _columns(rows)
    cells: dict[str, dict[tuple[str, str], str]] = {}
    for r in rows:
        model_cells = cells.setdefault(r["model"], {})
        if (r["benchmark"], "pass@1") in model_cells:
            raise ValueError(f"two rows for model {r['model']!r} on {r['benchmark']!r}")
        s = r["summary"]
        model_cells[(r["benchmark"], "pass@1")] = _fmt(s["pass@1"])
        label = cons_label(s)
        if label is not None:
            model_cells[(r["benchmark"], label)] = _fmt(s["cons@k"])

    lines = [_line(["Model"] + [f"{display_name(b)} {m}" for b, m in columns]),
             "|---|" + "---:|" * len(columns)]
    lines += [_line([model] + [mc.get(col, MISSING) for col in columns]) for model, mc in cells.items()]

    if reference:
        published = load_reference()["models"]
        names = list(published) if reference is True else list(reference)
        unknown = [n for n in names if n not in published]
        if unknown:
            raise ValueError(f"no reference numbers for {unknown}; known: {list(published)}")
        ref_rows = [[n] + _reference_cells(published[n], columns) for n in names]
        if reference is True:  # all of them: only the models with a number for these benchmarks
            ref_rows = [row for row in ref_rows if any(c != MISSING for c in row[1:])]
        if ref_rows:
            lines.append(_line([REFERENCE_LABEL] + [""] * len(columns)))
            lines += [_line(row) for row in ref_rows]
    return "\n".join(lines) + "\n"
