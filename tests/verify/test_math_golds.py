"""Every gold answer of the shared math benchmarks verifies against itself and a restated form.

The checks go through the worker pool itself (not the string fast path), so each gold is really
parsed by Math-Verify. A negative control pairs each gold with a different problem's gold.
"""

import json
import re
from pathlib import Path

import pytest

from r1kit.verify.math import normalize_answer, verify_math_batch

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FILES = ("aime24", "aime25", "amc23", "math500", "gsm8k_test")


def restate(gold: str) -> str:
    """The same answer in another form, inside a sentence with \\boxed{}: 12 -> \\frac{24}{2},
    \\frac{3}{4} -> (3)/(4), \\sqrt{2} -> (2)^{1/2}, (a, b) -> \\left(a, b\\right), \\frac -> \\dfrac."""
    if re.fullmatch(r"-?\d+", gold):
        gold = f"\\frac{{{2 * int(gold)}}}{{2}}"
    else:
        gold = re.sub(r"(?<![\d ])\\frac\{(\d+)\}\{(\d+)\}", r"(\1)/(\2)", gold)  # not mixed numbers: 1\frac{4}{5}
        gold = re.sub(r"\\sqrt\{(\d+)\}", r"(\1)^{1/2}", gold.replace("\\frac", "\\dfrac"))
        if gold.startswith("(") and gold.endswith(")") and "\\left" not in gold:
            gold = "\\left(" + gold[1:-1] + "\\right)"
    return f"The answer is $\\boxed{{{gold}}}$."


@pytest.fixture(scope="module")
def golds():
    if not DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {DATA} (a fresh clone has none)")
    rows = [json.loads(line) for name in FILES for line in (DATA / f"{name}.jsonl").open()]
    assert len(rows) == 30 + 30 + 40 + 500 + 1319
    return [(row["id"], row["answer"]) for row in rows]


def test_restate_changes_the_form():
    assert restate("12") == "The answer is $\\boxed{\\frac{24}{2}}$."
    assert restate("(3, \\frac{\\pi}{2})") == "The answer is $\\boxed{\\left(3, \\dfrac{\\pi}{2}\\right)}$."
    assert restate("\\frac{3}{4}\\sqrt{2}") == "The answer is $\\boxed{(3)/(4)(2)^{1/2}}$."
    assert restate("1\\frac{4}{5}") == "The answer is $\\boxed{1\\dfrac{4}{5}}$."


def test_every_gold_verifies_against_itself(verifier_pool, golds):
    pairs = [(normalize_answer(g), normalize_answer(g)) for _, g in golds]
    scores = verifier_pool.check_batch(pairs)  # Math-Verify on every pair, no fast path
    assert [i for (i, _), s in zip(golds, scores) if s != 1.0] == []


def test_every_gold_verifies_against_a_restated_form(verifier_pool, golds):
    scores = verify_math_batch([(restate(g), g) for _, g in golds])
    assert [(i, g) for (i, g), s in zip(golds, scores) if s != 1.0] == []


def test_a_different_problems_gold_does_not_verify(verifier_pool, golds):
    answers = [g for _, g in golds]
    others = [next(o for o in answers[i + 1:] + answers if normalize_answer(o) != normalize_answer(g))
              for i, g in enumerate(answers)]
    scores = verify_math_batch(list(zip(others, answers)))
    wrongly_equal = [(o, g) for o, g, s in zip(others, answers, scores) if s]
    assert len(wrongly_equal) <= 2, wrongly_equal  # e.g. "\\frac12" and "0.5" in neighbouring rows
