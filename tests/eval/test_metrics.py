import json
import math
import re
from fractions import Fraction
from itertools import combinations

import pytest

from r1kit.eval.metrics import Stat, cons_at_k, majority_vote, mean_stderr, pass_at_k, summarize

# ---- pass@k ----


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all size-k subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_brute_force_enumeration():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert abs(pass_at_k(n, c, k) - brute_pass_at_k(n, c, k)) <= 1e-12, (n, c, k)


def test_pass_at_k_edges():
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 3, 3) == 1.0            # n - c = 2 < k: every 3-subset holds a correct one
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    for n, c in [(64, 17), (7, 3), (200, 1)]:
        assert pass_at_k(n, c, 1) == c / n      # pass@1 is the mean accuracy


def test_pass_at_k_large_n_matches_product_form():
    # Chen et al.'s numerically stable form: 1 - prod_{i=n-c+1}^{n} (1 - k/i)
    for n, c, k in [(200, 3, 64), (128, 10, 16), (300, 1, 1), (256, 40, 100)]:
        prod = math.prod(1 - k / i for i in range(n - c + 1, n + 1))
        assert abs(pass_at_k(n, c, k) - (1 - prod)) <= 1e-12


def test_pass_at_k_non_decreasing_in_k():
    vals = [pass_at_k(16, 3, k) for k in range(1, 17)]
    assert vals == sorted(vals)


@pytest.mark.parametrize("n,c,k", [(4, 1, 0), (4, 1, 5), (4, 5, 2), (4, -1, 2), (-1, 0, 1), (0, 0, 1), (3, 1, -1)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# ---- majority vote / cons@k ----


def as_fraction(s: str) -> Fraction:
    m = re.fullmatch(r"\\frac\{?(\d)\}?\{?(\d)\}?", s)
    return Fraction(int(m[1]), int(m[2])) if m else Fraction(s)


class FakeSame:
    """Value equality via Fraction; records every batched call."""

    def __init__(self):
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, pairs):
        self.calls.append(list(pairs))
        return [as_fraction(a) == as_fraction(b) for a, b in pairs]


HALVES = ["1/2", "0.5", "\\frac12", "3", "3"]


def test_equivalent_forms_form_one_group():
    same = FakeSame()
    assert majority_vote(HALVES, same) == 0                       # halves 3 votes vs "3" 2 votes
    assert cons_at_k(HALVES, [True, True, True, False, False], FakeSame()) == 1.0   # gold 1/2
    assert cons_at_k(HALVES, [False, False, False, True, True], FakeSame()) == 0.0  # gold 3


def test_same_is_batched_and_skips_exact_duplicates():
    same = FakeSame()
    majority_vote(HALVES, same)
    # one call per new distinct string, against the current representatives; the repeated "3" is free
    assert same.calls == [[("1/2", "0.5")], [("1/2", "\\frac12")], [("1/2", "3")]]

    same = FakeSame()
    assert majority_vote(["3", "1/2", "0.5", "0.5", "3"], same) == 1    # halves 3 vs 2
    assert same.calls == [[("3", "1/2")], [("3", "0.5"), ("1/2", "0.5")]]

    same = FakeSame()
    assert majority_vote(["7"] * 5, same) == 0
    assert same.calls == []


def test_tie_goes_to_earliest_group():
    assert majority_vote(["3", "1/2", "3", "0.5"], FakeSame()) == 0
    assert majority_vote(["1/2", "3", "3", "0.5"], FakeSame()) == 0
    assert majority_vote([None, "3", "0.5", "1/2", "3"], FakeSame()) == 1
    assert majority_vote(["4", "5", "6"], FakeSame()) == 0


def test_joins_first_matching_group():
    def same(pairs):                     # "*" is equivalent to everything
        return [a == b or "*" in (a, b) for a, b in pairs]

    # "*" matches both "a" and "b": it joins "a" (first group), so "a" wins 2 to 1
    assert majority_vote(["b", "a", "*"], same) == 0
    assert majority_vote(["a", "b", "b", "*", "*"], same) == 0  # a: 3, b: 2


def test_none_answers_never_vote():
    same = FakeSame()
    answers = ["3", None, None, None, "1/2", "0.5"]
    assert majority_vote(answers, same) == 4
    assert all(None not in pair for call in same.calls for pair in call)
    assert cons_at_k(answers, [False, True, True, True, True, True], FakeSame()) == 1.0


def test_nobody_voted():
    same = FakeSame()
    assert majority_vote([None, None], same) is None
    assert majority_vote([], same) is None
    assert cons_at_k([None, None, None], [False] * 3, same) == 0.0
    assert same.calls == []


def test_letters_with_string_equality():
    def same(pairs):
        return [a == b for a, b in pairs]

    assert majority_vote(["B", "A", "B", "C"], same) == 0
    assert cons_at_k(["B", "A", "C", "C"], [False, True, False, False], same) == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError):
        cons_at_k(["1", "2"], [True], FakeSame())
    with pytest.raises(ValueError):
        majority_vote(["1", "2"], lambda pairs: [])


# ---- mean / stderr ----


def test_mean_stderr_hand_computed():
    # values 1, 0, .5: mean .5, sample variance (.25 + .25 + 0)/2 = .25, stderr = .5/sqrt(3)
    s = mean_stderr([1.0, 0.0, 0.5])
    assert s.n == 3 and s.mean == 0.5
    assert s.stderr == pytest.approx(0.5 / math.sqrt(3), abs=1e-15)


def test_stderr_uses_sample_not_population_std():
    # (0, 1): sample std 1/sqrt(2) -> stderr .5; the population std would give 1/(2 sqrt(2))
    assert mean_stderr([0.0, 1.0]).stderr == pytest.approx(0.5, abs=1e-15)


def test_mean_stderr_small():
    assert mean_stderr([0.3]) == Stat(mean=0.3, stderr=0.0, n=1)
    with pytest.raises(ValueError):
        mean_stderr([])


# ---- summarize ----


def problems():
    return [
        {"correct": [True, False, True, False], "answers": ["1", "2", "1", None],
         "tokens": [10, 20, 30, None], "finish": ["stop", "length", "stop", "length"], "cons": 1.0},
        {"correct": [False] * 4, "answers": [None, "6", "7", "8"],
         "tokens": [5, 5, 5, 5], "finish": ["stop"] * 4, "cons": 0.0},
        {"correct": [True, True, True, False], "answers": ["4", "4", "4", "3"],
         "tokens": [1, 2, 3, 4], "finish": ["length", "stop", "stop", "stop"], "cons": 1.0},
    ]


def close(stat: dict, mean: float, stderr: float, n: int = 3):
    return stat["n"] == n and abs(stat["mean"] - mean) < 1e-12 and abs(stat["stderr"] - stderr) < 1e-12


def test_summarize_hand_computed():
    s = summarize(problems())
    assert s["n_problems"] == 3
    assert s["samples_per_problem"] == {"min": 4, "max": 4}
    # per-problem accuracy 1/2, 0, 3/4: mean 5/12; deviations 1/12, -5/12, 4/12 -> var 7/48, stderr sqrt(7)/12
    assert close(s["pass@1"], 5 / 12, math.sqrt(7) / 12)
    assert list(s["pass@k"]) == ["1", "2", "3", "4"]
    assert s["pass@k"]["1"] == s["pass@1"]
    # k=2: (n,c)=(4,2) -> 1 - 1/6 = 5/6; (4,0) -> 0; (4,3) -> 1. mean 11/18, var 93/324, stderr sqrt(31)/18
    assert close(s["pass@k"]["2"], 11 / 18, math.sqrt(31) / 18)
    for k in ("3", "4"):                                   # 1, 0, 1
        assert close(s["pass@k"][k], 2 / 3, 1 / 3)
    assert close(s["cons@k"], 2 / 3, 1 / 3)
    assert s["truncation_rate"] == 3 / 12
    assert s["mean_response_tokens"] == 90 / 11           # the one None token count is ignored
    assert s["parse_failures"] == 2


def test_summarize_is_json_serialisable():
    s = summarize(problems())
    assert json.loads(json.dumps(s)) == s


def test_summarize_ragged_and_without_cons():
    ps = problems()
    ps[0] = {"correct": [True, False], "answers": ["1", "2"], "tokens": [None, None],
             "finish": ["stop", "stop"], "cons": None}
    ps[1]["cons"] = ps[2]["cons"] = None
    s = summarize(ps)
    assert s["samples_per_problem"] == {"min": 2, "max": 4}
    assert list(s["pass@k"]) == ["1", "2"]
    assert s["cons@k"] is None
    assert s["mean_response_tokens"] == 30 / 8

    s = summarize([{"correct": [True], "answers": [None], "tokens": [None], "finish": ["length"], "cons": None}])
    assert s["mean_response_tokens"] is None and s["truncation_rate"] == 1.0
    assert s["pass@1"] == {"mean": 1.0, "stderr": 0.0, "n": 1}


def test_summarize_rejects_inconsistent_records():
    with pytest.raises(ValueError):
        summarize([])
    ps = problems()
    ps[1]["cons"] = None                                   # cons for some problems only
    with pytest.raises(ValueError):
        summarize(ps)
    ps = problems()
    ps[0]["tokens"] = [1, 2]
    with pytest.raises(ValueError):
        summarize(ps)
    with pytest.raises(ValueError):
        summarize([{"correct": [], "answers": [], "tokens": [], "finish": [], "cons": None}])
