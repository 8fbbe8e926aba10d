"""Math verifier agreement: raw Math-Verify against r1kit's path, on Math-Verify's own test cases.

    python benchmarks/verifier_agreement.py --cases PATH [--workers 2] [--timeout 5] [--misses]

PATH is a checkout of Math-Verify's `tests/` folder (github.com/huggingface/Math-Verify). Nothing is
copied from it: the test files are read with `ast` at run time, and every `@pytest.mark.parametrize`
list whose argument names include gold, pred and expected (or result) becomes cases. Two sides score
each (gold, prediction) pair and are compared with the case's expected label:

- raw: `math_verify.parse(gold)`, `parse(pred)`, `verify(gold, pred)` with default settings, in this
  process (Math-Verify's own signal timeouts);
- r1kit: `extract_math_answer(pred)` then `verify_math_batch` on all pairs at once (worker pool with
  a hard deadline), the path the accuracy reward and `r1kit eval` take. A None score (gold not
  parsable) counts as "not equal".

Some cases expect a result under a non-default option of the test (strict=False,
allow_set_relation_comp=True, a rounding precision other than 6, LaTeX-only or expression-only
extraction); they are kept, counted in the per-test table's `options` column, and left out of the
last row ("cases labelled under default options"). Categories: one table per test function, one per
kind of prediction named in issue 9 (a case can fall into several kinds, or none).
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}


@dataclass
class Case:
    test: str  # "file.py::function"
    gold: str
    pred: str
    expected: int
    options: dict = field(default_factory=dict)  # non-default compare options of the case


# ---- reading the test files -------------------------------------------------------------------


def load_cases(folder: Path) -> list[Case]:
    """Every (gold, pred, expected) row of every parametrize list in folder/test_*.py."""
    cases = []
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            call_options = _call_options(fn)
            for deco in fn.decorator_list:
                for row in _parametrize_rows(deco):
                    case = _case(f"{path.name}::{fn.name}", row, call_options)
                    if case is not None:
                        cases.append(case)
    return cases


def _parametrize_rows(deco: ast.expr) -> list[dict]:
    """Rows of `@pytest.mark.parametrize("a,b", [(...), ...])` as dicts; [] for other decorators."""
    if not (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize" and len(deco.args) >= 2):
        return []
    try:
        names = [n.strip() for n in _value(deco.args[0]).split(",")]
        rows = _value(deco.args[1])
    except Exception:  # a parametrize over something not a literal (configs objects): not a case list
        return []
    return [dict(zip(names, row)) for row in rows if isinstance(row, tuple) and len(row) == len(names)]


def _value(node: ast.expr):
    """A literal, or an expression over literals and `math` (one list builds a gold with f"{math.sqrt(17)}")."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        code = compile(ast.Expression(node), "<case>", "eval")
        return eval(code, {"__builtins__": {}, "math": math})  # noqa: S307 (expressions of a test list)


def _call_options(fn: ast.FunctionDef) -> dict:
    """Constant keyword options the test passes to its comparison (precision=5, match_types=["expr"])."""
    options = {}
    for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
        for kw in call.keywords:
            try:
                options[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:  # a name such as `precision=precision`: the row carries it
                pass
    return options


def _case(test: str, row: dict, call_options: dict) -> Case | None:
    expected = row.get("expected", row.get("result"))
    if not {"gold", "pred"} <= row.keys() or expected is None:
        return None
    options = {**call_options, **{k: v for k, v in row.items() if k not in ("gold", "pred", "expected", "result")}}
    options = {k: v for k, v in options.items() if k in _DEFAULTS and v != _DEFAULTS[k]
               or k == "match_types" and v != ["latex", "expr"]}
    return Case(test, str(row["gold"]), str(row["pred"]), int(expected), options)


# ---- kinds of prediction named in the issue ---------------------------------------------------

_SPACED_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.])")
_DECIMAL_IN_SET = re.compile(r"(?:[(\[]\s*-?\d*\.\d+\s*,|,\s*-?\d*\.\d+\s*[)\]])|\\begin\{[pbv]?matrix\}[^$]*\d\.\d")


def kinds(case: Case) -> list[str]:
    """The issue-9 categories this prediction belongs to."""
    pred = case.pred
    found = []
    if "\\boxed" not in pred and "\\fbox" not in pred and len(pred) > 40:
        found.append("free text, no \\boxed")
    if pred.count("\\boxed") + pred.count("\\fbox") >= 2 or case.gold.count("\\boxed") >= 2:
        found.append("several \\boxed")
    if _SPACED_THOUSANDS.search(pred):
        found.append("thousands with spaces")
    if _DECIMAL_IN_SET.search(pred):
        found.append("decimals in interval/matrix")
    if len(pred) > 1000:
        found.append("prediction > 1000 chars")
    return found


# ---- the two sides ------------------------------------------------------------------------------


def run_raw(cases: list[Case]) -> tuple[list[int], float]:
    """Math-Verify's own parse/verify, default settings; any exception scores 0."""
    import logging

    from math_verify import parse, verify

    logging.disable(logging.WARNING)
    parse("1"), verify(parse("1"), parse("1"))  # import and warm up outside the clock
    scores = []
    start = time.perf_counter()
    for case in cases:
        try:
            scores.append(int(bool(verify(parse(case.gold), parse(case.pred)))))
        except Exception:
            scores.append(0)
    return scores, time.perf_counter() - start


def run_r1kit(cases: list[Case], timeout: float) -> tuple[list[int], float, dict]:
    """extract_math_answer + verify_math_batch on all cases at once (workers started outside the clock)."""
    from r1kit.verify import math as rmath

    rmath.get_pool().check_batch([("1", "1")])
    start = time.perf_counter()
    answers = [rmath.extract_math_answer(case.pred) for case in cases]
    scores = rmath.verify_math_batch([(a, case.gold) for a, case in zip(answers, cases)], timeout=timeout)
    seconds = time.perf_counter() - start
    stats = rmath.verifier_stats()
    rmath.shutdown_pool()
    return [int(s == 1.0) for s in scores], seconds, stats


# ---- report -----------------------------------------------------------------------------------


def table(title: str, groups: dict[str, list[int]], cases, raw, ours, extra=None) -> None:
    print(f"\n| {title} | n | raw Math-Verify | r1kit |" + (" options |" if extra else ""))
    print("|---|---:|---:|---:|" + ("---|" if extra else ""))
    for name, idx in groups.items():
        agree_raw = sum(raw[i] == cases[i].expected for i in idx) / len(idx)
        agree_ours = sum(ours[i] == cases[i].expected for i in idx) / len(idx)
        cells = f"| {name} | {len(idx)} | {agree_raw:.3f} | {agree_ours:.3f} |"
        print(cells + (f" {extra(idx)} |" if extra else ""))


def report(cases: list[Case], raw, ours, raw_s: float, ours_s: float, stats: dict, misses: bool) -> None:
    by_test: dict[str, list[int]] = {}
    by_kind: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        by_test.setdefault(case.test, []).append(i)
        for kind in kinds(case) or ["none of these"]:
            by_kind.setdefault(kind, []).append(i)
    everything = {"all cases": list(range(len(cases))),
                  "cases labelled under default options": [i for i, c in enumerate(cases) if not c.options]}

    def options(idx):
        marked = sum(bool(cases[i].options) for i in idx)
        return f"{marked} non-default" if marked else ""

    table("test", by_test, cases, raw, ours, extra=options)
    table("kind of prediction (issue 9)", {**by_kind, **everything}, cases, raw, ours)
    print(f"\nwall time: raw {raw_s:.2f} s, r1kit {ours_s:.2f} s (pool: {stats.get('checks', 0)} checks, "
          f"{stats.get('timeouts', 0)} timeouts)")
    wrong_yes = [i for i in range(len(cases)) if ours[i] == 1 and cases[i].expected == 0]
    print(f"r1kit false positives: {len(wrong_yes)}; raw false positives: "
          f"{sum(raw[i] == 1 and cases[i].expected == 0 for i in range(len(cases)))}")
    if misses:
        for i, case in enumerate(cases):
            if ours[i] != case.expected or raw[i] != case.expected:
                print(f"- {case.test} expected={case.expected} raw={raw[i]} r1kit={ours[i]} {case.options or ''}\n"
                      f"  gold={case.gold[:160]!r}\n  pred=...{case.pred[-200:]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True, help="a checkout of Math-Verify's tests/ folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0, help="r1kit's per-check deadline, seconds")
    ap.add_argument("--misses", action="store_true", help="list every case either side gets wrong")
    args = ap.parse_args()
    folder = Path(args.cases)
    if not folder.is_dir() or not any(folder.glob("test_*.py")):
        sys.exit(f"error: no Math-Verify test files (test_*.py) in {folder}; pass --cases <Math-Verify>/tests")
    os.environ["R1KIT_VERIFY_WORKERS"] = str(args.workers)
    cases = load_cases(folder)
    raw, raw_s = run_raw(cases)
    ours, ours_s, stats = run_r1kit(cases, args.timeout)
    print(f"{len(cases)} cases from {len({c.test for c in cases})} tests; r1kit workers={args.workers}, "
          f"deadline {args.timeout} s")
    report(cases, raw, ours, raw_s, ours_s, stats, args.misses)


if __name__ == "__main__":
    main()
