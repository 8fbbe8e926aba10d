"""repetition_penalty_reward: hand-counted n-grams, a naive reference, hostile inputs."""

import random
import time

import pytest

from r1kit.rewards.repetition import repetition_penalty, repetition_penalty_reward


@pytest.mark.parametrize("text,options,expected", [
    ("a b c a b c", {}, -0.25),  # trigrams abc bca cab abc: 3 distinct of 4
    ("A b C a B c", {}, -0.25),  # case-folded
    ("a b c a b c", {"max_penalty": -2.0}, -0.5),
    ("x x x x", {"n": 1}, -0.75),  # 1 distinct of 4
    ("x x x x", {"n": 2}, -2 / 3),  # 1 distinct of 3
    ("one two three four", {}, 0.0),  # nothing repeats
    ("a b", {}, 0.0),  # fewer than n words
    ("", {}, 0.0),
    ("a b c <|im_end|> a b c a b c", {}, 0.0),  # text after eos ignored
])
def test_hand_computed(text, options, expected):
    assert repetition_penalty_reward(text, None, None, **options) == pytest.approx(expected, abs=1e-12)


def _naive(words, n, max_penalty):
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return max_penalty * (1 - len(set(grams)) / len(grams)) if grams else 0.0


def test_matches_a_naive_loop():
    rng = random.Random(0)
    for _ in range(200):
        words = [rng.choice("abc") for _ in range(rng.randrange(0, 12))]
        n = rng.randrange(1, 5)
        assert repetition_penalty(words, n, -1.0) == pytest.approx(_naive(words, n, -1.0))


def test_no_repetition_is_plus_zero():
    assert str(repetition_penalty_reward("one two three four")) == "0.0"  # not "-0.0" in the logs


def test_bounds_and_non_strings():
    assert repetition_penalty_reward(None) is None
    assert repetition_penalty_reward(b"a a a a") is None
    assert repetition_penalty_reward("a a a a", n=0) == 0.0


def test_hostile_inputs_are_fast_and_never_raise():
    hostile = ["ha " * 333_333, " ".join(str(i) for i in range(150_000)), "x" * 1_000_000, "\x00 \ud800 \udfff " * 100]
    start = time.perf_counter()
    results = [repetition_penalty_reward(text) for text in hostile]
    assert time.perf_counter() - start < 1.0
    assert results[0] == pytest.approx(-(1 - 1 / 333_331)) and results[1] == 0.0 and results[2] == 0.0
    assert -1.0 <= results[3] < 0.0
