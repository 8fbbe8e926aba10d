"""Math answer extraction, normalisation and Math-Verify checks, including hostile inputs."""

import time

import pytest

from r1kit.verify.math import (
    FREE_TEXT, MAX_PRED_CHARS, extract_math_answer, normalize_answer, verifier_stats, verify_math, verify_math_batch,
)


@pytest.mark.parametrize("text,expected", [
    ("so \\boxed{5}", "5"),
    ("\\boxed{1} then \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),  # the last box
    ("\\fbox{7}", "7"),
    ("\\boxed{a} and \\fbox{b}", "a, b"),  # boxes divided only by "and" form one answer
    ("\\boxed {x^{2}}", "x^{2}"),
    ("$\\boxed 5$", "5"),
    ("<think>\\boxed{3}</think> \\boxed{4}", "4"),  # the box inside reasoning is ignored
    ("<think>\\boxed{3}</think> no box here", None),  # no digit, no math: nothing to extract
    ("<think>x</think> <answer>12</answer>", "12"),
    ("<think>so \\boxed{5}", None),  # a reasoning block never closed: no final answer yet
    ("The final answer is $42$.", "42"),
    ("Final Answer: The final answer is: 3.5. I hope", "3.5"),
    ("\\boxed{3} so far; The final answer is $4$.", "4"),  # restated after the box: the restatement
    ("\\boxed{3}. The final answer is shown above.", "3"),  # no answer in the phrase: the box
    ("\\boxed{5", None),  # never closed: truncated, no final answer (not free text either)
    ("\\boxed{2} \\boxed{", "2"),  # an unclosed later box falls back to the earlier one
    ("no answer", None),
    ("so it is $7$.", FREE_TEXT + "so it is $7$."),  # no box: the final text, for Math-Verify to read
    ("", None),
    (None, None),
])
def test_extract_table(text, expected):
    assert extract_math_answer(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("**1/3**", "1/3"), ("1,234", "1234"), ("-12,345.5", "-12345.5"), ("1,2", "1,2"), ("(1,234)", "(1,234)"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"), ("\\tfrac12", "\\frac12"), ("5.", "5"), ("$7$", "7"),
    ("\\text{(C)}", "(C)"), ("\\text{a} + \\text{b}", "\\text{a} + \\text{b}"), ("a\x00b", "ab"), (" 3 ", "3"),
    ("1\\,000", "1000"), ("1 000 000", "1000000"), ("11,\\! 111", "11111"), ("1{,}000", "1000"), ("0,111", "0,111"),
    ("32, 349", "32, 349"), ("1 23", "1 23"), ("$1$ and $2$", "$1$ and $2$"),
])
def test_normalize_table(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("pred,gold,score", [
    ("\\frac12", "0.5", 1.0),
    ("**1/3**", "\\frac{1}{3}", 1.0),
    ("1,234", "1234", 1.0),
    ("\\dfrac{1}{2}", "\\frac{1}{2}", 1.0),
    ("18.", "18", 1.0),
    ("18.0", "18", 1.0),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", 1.0),
    ("14/3", "\\frac{14}{3}", 1.0),
    ("1+x^2", "x^2+1", 1.0),
    ("\\text{10}", "10", 1.0),
    ("\\$18", "18", 1.0),
    ("50\\%", "50", 1.0),
    ("19", "18", 0.0),
    ("0.3333", "1/3", 0.0),
    ("", "5", 0.0),
    (None, "5", 0.0),
])
def test_verify_table(verifier_pool, pred, gold, score):
    assert verify_math(pred, gold) == score


def test_batch_matches_single(verifier_pool):
    pairs = [("\\frac12", "0.5"), ("2", "3"), ("\\sqrt{4}", "2"), ("x", "y")]
    assert verify_math_batch(pairs) == [verify_math(p, g) for p, g in pairs] == [1.0, 0.0, 1.0, 0.0]
    assert verify_math_batch([]) == []


@pytest.mark.parametrize("pred", [
    "1" * 1_000_000,  # 1 MB: rejected before any parsing
    "\\boxed{" * 1000,
    "\\boxed{",
    "10^10^10^10",
    "2^{2^{2^{2^{2^{2}}}}}",  # sympy does not finish this (measured > 20 s)
    "5\x00",
    "\x00" * 100,
    "{" * 5000 + "}" * 5000,
    "\\frac{" * 2000,
], ids=["1MB", "boxed-bomb", "unclosed-boxed", "power-tower", "power-tower-braced", "nul", "nuls", "braces",
        "frac-bomb"])
def test_hostile_inputs_are_bounded(verifier_pool, pred):
    start = time.perf_counter()
    score = verify_math(pred, "5", timeout=1.0)
    assert score in (0.0, 1.0)
    # The deadline, plus a kill and possibly waiting for a replacement worker to start on a busy
    # machine; without the deadline these run for minutes (sympy never returns on some).
    assert time.perf_counter() - start < 1.0 + 5.0


def test_null_byte_answer_still_counts(verifier_pool):
    assert verify_math("5\x00", "5") == 1.0


def test_extraction_of_a_huge_completion_is_fast():
    for text in ("x" * 1_000_000 + "\\boxed{5}", "\\boxed{" * 150_000, "final answer is " * 60_000, "{" * 1_000_000,
                 "\\boxed{1}, " * 100_000, "$" * 1_000_001 + " 5", "1 " * 500_000,
                 "\\boxed{" + "1 000 " * 200_000 + "}"):
        start = time.perf_counter()
        extract_math_answer(text)
        assert time.perf_counter() - start < 1.0


def test_timeout_kills_and_replaces_the_worker(verifier_pool):
    before = verifier_stats()
    assert verify_math("x" * 999, "5", timeout=0.05) == 0.0  # a 999-factor product: ~0.2 s to parse
    after = verifier_stats()
    assert after["timeouts"] == before["timeouts"] + 1 and after["restarts"] == before["restarts"] + 1
    assert verify_math("\\frac{2}{4}", "0.5") == 1.0  # the replacement worker answers


@pytest.mark.parametrize("pred", ["10^{10^{10}}", "9^{9^{9^{9}}}", "10^10^10^10", "{" * 11 + "1" + "}" * 11,
                                  "(" * 50 + "1" + ")" * 50])
def test_explosive_shapes_rejected_without_worker(pred):
    before = verifier_stats()["fast_rejected"]
    assert verify_math(pred, "5") == 0.0
    assert verifier_stats()["fast_rejected"] == before + 1


def test_towers_and_symbolic_powers_still_verified(verifier_pool):
    assert verify_math("2^{2^{n}}", "2^{2^n}") == 1.0  # the gold has a tower too: checked
    assert verify_math("e^{x^2}", "\\exp(x^2)") == 1.0  # symbolic, not a numeric tower
    assert verify_math("((1/2))", "0.5") == 1.0  # shallow nesting is fine


def test_overlong_prediction_rejected_without_worker():
    before = verifier_stats()["fast_rejected"]
    assert verify_math("1" * (MAX_PRED_CHARS + 1), "1") == 0.0
    assert verifier_stats()["fast_rejected"] == before + 1


def test_one_bad_pair_does_not_spoil_the_batch(verifier_pool):
    pairs = [("9" * 5000, "5"), ("5", "5"), (123, "5"), ("\\frac{1}{2}", "0.5"), ("5", None)]
    assert verify_math_batch(pairs, timeout=2.0) == [0.0, 1.0, 0.0, 1.0, None]  # no gold: skipped


@pytest.mark.parametrize("gold", ["", "   ", "\\boxed{", None])
def test_unparsable_gold_is_none_not_zero(verifier_pool, gold):
    assert verify_math_batch([("5", gold), ("x", gold), (None, gold)]) == [None, None, None]


def test_gold_remembered_as_unparsable(verifier_pool):
    gold = "\\boxed{remembered"  # seen by no other test: golds are remembered for the whole process
    before = verifier_stats()["checks"]
    assert verify_math("5", gold) is None  # one worker check finds it unparsable
    assert verify_math("6", gold) is None  # answered without a worker
    assert verifier_stats()["checks"] == before + 1
