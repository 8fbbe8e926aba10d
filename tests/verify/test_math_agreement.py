"""Completion -> answer -> score, per kind of answer that issue 9 lists (our own cases).

Each case runs the whole path the reward and `r1kit eval` take: `extract_math_answer` on the
completion, then `verify_math_batch` against the gold, through the worker pool.
"""

import time

import pytest

from r1kit.verify.math import FREE_TEXT, extract_math_answer, is_free_text, verify_math_batch


def scores(cases, timeout=None):
    return verify_math_batch([(extract_math_answer(text), gold) for text, gold, _ in cases], timeout=timeout)


FREE_TEXT_CASES = [
    ("So the total is $42$ apples.", "42", 1.0),
    ("Therefore the smallest such n is 17.", "17", 1.0),
    ("We conclude \\(x = \\frac{3}{4}\\).", "\\frac34", 1.0),
    ("Hence the probability is 2/5.", "0.4", 1.0),
    ("First $x = 7$; after fixing the sign, the result is $9$.", "9", 1.0),  # the last expression counts
    ("First $x = 7$; after fixing the sign, the result is $9$.", "7", 0.0),
    ("The answer is 12.", "13", 0.0),
    ("That is 28 percent of them", "28\\%", 1.0),  # prose, not a product of letters in math mode
    ("So there are 1,000.5 units", "1000.5", 1.0),
    ("The interval is $(1.5, \\infty)$.", "(\\frac32, \\infty)", 1.0),
    ("Step by step. " * 250 + "So the answer is $3.5$.", "\\frac72", 1.0),  # 3,500 chars: once dropped
    ("</think> The answer is $6$ apples", "6", 1.0),
]

SEVERAL_BOXED = [
    ("The solutions are \\boxed{2} and \\boxed{-3}.", "-3, 2", 1.0),
    ("The pairs: \\boxed{(1, 2)}, \\boxed{(2, 1)}", "(1,2),(2,1)", 1.0),
    ("So $x = \\boxed{4}$ and $y = \\boxed{5}$.", "x=4, y=5", 1.0),
    ("\\[\\boxed{-1} \\quad \\text{and} \\quad \\boxed{6}\\]", "\\{-1, 6\\}", 1.0),
    ("First \\boxed{3}. But I made an error in step 2; redoing it gives \\boxed{4}", "4", 1.0),  # a correction
    ("\\boxed{2} or \\boxed{3}", "2", 0.0),  # hedging between two answers is not the answer 2
    ("\\boxed{4}\\boxed{4}", "4", 1.0),
]

THOUSANDS = [
    ("\\boxed{1 000}", "1000", 1.0),
    ("\\boxed{12\\,345}", "12345", 1.0),
    ("\\boxed{1{,}000{,}000}", "10^6", 1.0),
    ("\\boxed{11,\\!111}", "11111", 1.0),
    ("The total is $2 500$ dollars.", "2500", 1.0),
    ("\\boxed{32, 349}", "32349", 0.0),  # a pair, not a number
    ("\\boxed{1 000}", "1001", 0.0),
]

DECIMALS_IN_STRUCTURES = [
    ("\\boxed{(0.5, 2.25]}", "(\\frac12, \\frac94]", 1.0),
    ("\\boxed{\\begin{pmatrix} 0.25 & 1 \\\\ 1.5 & 0 \\end{pmatrix}}",
     "\\begin{pmatrix} \\frac14 & 1 \\\\ \\frac32 & 0 \\end{pmatrix}", 1.0),
    ("The matrix is $\\begin{pmatrix} 0.5 \\\\ 2 \\end{pmatrix}$.",
     "\\begin{pmatrix} \\frac12 \\\\ 2 \\end{pmatrix}", 1.0),
    ("\\boxed{[0.3, 1]}", "[\\frac13, 1]", 0.0),  # an approximation is not the exact endpoint
    ("\\boxed{(0.5, 2.26]}", "(\\frac12, \\frac94]", 0.0),
]

MAGNITUDES = [
    ("\\boxed{10^{-30}}", "2\\cdot 10^{-30}", 0.0),  # Math-Verify alone: equal (6 decimal places)
    ("\\boxed{0.0000001}", "0.0000002", 0.0),  # Math-Verify alone: equal
    ("\\boxed{10^{100}}", "10^{100}+1", 0.0),
    ("\\boxed{(10^{-20}, 1)}", "(3\\cdot 10^{-20}, 1)", 0.0),
    ("\\boxed{[0.0000001, 2]}", "[0.0000003, 2]", 0.0),  # Math-Verify alone: equal
    ("\\boxed{1.5\\times 10^{-8}}", "1.5\\cdot10^{-8}", 1.0),
    ("\\boxed{10^{100}}", "10^{100}", 1.0),
    ("\\boxed{\\frac{1}{3}}", "0.3333333", 1.0),
    ("\\boxed{\\frac{3333333}{10000000}}", "\\frac13", 0.0),  # exact fractions are not rounded
]

KEPT_FIXES = [
    ("\\boxed{5.}", "5", 1.0),
    ("<think>...</think><answer>12</answer>", "12", 1.0),
    ("\\boxed{\\$18.90}", "18.9", 1.0),
    ("\\boxed{**7**}", "7", 1.0),
    ("\\boxed{\\text{10}}", "10", 1.0),
    ("\\boxed{\\textbf{1,234}}", "1234", 1.0),
    ("The final answer is $28\\%$. I hope it is correct.", "28", 1.0),
]


WORDS_IN_ANSWERS = [  # in math mode the letters of a word become a product
    ("<answer>18 dollars</answer>", "18", 1.0),
    ("<answer>19 dollars</answer>", "18", 0.0),
    ("The final answer is: the largest n is 34", "34", 1.0),
    ("\\boxed{\\text{Evelyn}}", "\\text{Evelyn}", 1.0),
    ("<answer>odd</answer>", "\\text{odd}", 1.0),
    ("\\boxed{2 \\sin x \\cos x}", "\\sin 2x", 1.0),
    ("\\boxed{3, 5, \\text{ and } 9}", "3, 5, and 9", 1.0),  # a connective is no prose: still a set
    ("\\boxed{7:32}", "S_{ABCD}:S=7:32", 1.0),  # nor are the letters of a name
]


@pytest.mark.parametrize("cases", [FREE_TEXT_CASES, SEVERAL_BOXED, THOUSANDS, DECIMALS_IN_STRUCTURES, MAGNITUDES,
                                   KEPT_FIXES, WORDS_IN_ANSWERS],
                         ids=["free-text", "several-boxed", "thousands", "decimals-in-structures", "magnitudes",
                              "kept-fixes", "words"])
def test_category(verifier_pool, cases):
    got = scores(cases)
    assert [(text[-60:], gold, s) for (text, gold, want), s in zip(cases, got) if s != want] == []


def test_free_text_answer_is_marked_and_bounded():
    answer = extract_math_answer("word " * 200_000 + "so it is $5$.")  # 1 MB of final text
    assert is_free_text(answer) and answer.endswith("so it is $5$.") and len(answer) <= len(FREE_TEXT) + 4000
    assert extract_math_answer("I cannot solve this.") is None  # no digit, no math: nothing to read
    # A cut inside $…$ would pair every later "$" wrongly: the tail starts after the span closes.
    text = "$" + "a" * 5000 + "$ so $y = 3$"
    assert extract_math_answer(text) == FREE_TEXT + "so $y = 3$"


def test_free_text_answers_compare_with_each_other(verifier_pool):
    # cons@k votes compare two extracted answers; both may be free text.
    a, b, c = (extract_math_answer(t) for t in ("so it is $0.5$", "the value is $\\frac{1}{2}$.", "it is $3$"))
    assert verify_math_batch([(a, b), (b, a), (a, c)]) == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("text", [
    "x " * 500_000 + "the answer is $5$",  # 1 MB completion
    "<think>" + "y" * 1_000_000 + "</think>\\boxed{5}",
    "\\boxed{5 and more" * 10,  # unclosed boxes
    "\\boxed{" * 100_000,
    "\x00" * 1000 + "the answer is 5\x00",
    "$" * 100_000 + "5",
    "(" * 3000 + "5" + ")" * 3000,
], ids=["1MB", "1MB-reasoning", "unclosed-boxed", "boxed-bomb", "nul", "dollars", "parens"])
def test_hostile_completions_score_within_the_deadline(verifier_pool, text):
    start = time.perf_counter()
    score = verify_math_batch([(extract_math_answer(text), "5")], timeout=1.0)[0]
    assert score in (0.0, 1.0)
    assert time.perf_counter() - start < 1.0 + 5.0  # the deadline, plus a replacement worker's start


def test_an_unreadable_free_text_gold_is_skipped_not_kept(verifier_pool):
    from r1kit.verify import math as vmath

    gold = FREE_TEXT + "no digits here, " * 100 + "$$"  # an answer compared with another (cons@k)
    assert verify_math_batch([("5", gold), ("6", gold)]) == [None, None]
    assert gold not in vmath._bad_golds and gold not in vmath._good_golds  # long answers are not cached
