"""The default tokenizer corpus: fixed for a seed, and its worked arithmetic is right."""

import re

from r1kit.models.corpus import _carry_steps, default_corpus


def test_default_corpus_is_fixed_for_a_seed():
    assert default_corpus() == default_corpus()
    assert default_corpus(seed=0) != default_corpus(seed=1)


def test_corpus_contains_the_r1_zero_template():
    head = "A conversation between User and Assistant. The user asks a question"
    assert sum(line.startswith(head) for line in default_corpus()) >= 100


def test_carry_steps_rebuild_the_sum():
    for a, b in [(12345, 67890), (99999, 1), (5, 5), (0, 0)]:
        steps = _carry_steps(a, b)
        written = [int(re.search(r"write (\d)", s).group(1)) for s in steps]
        assert sum(d * 10**i for i, d in enumerate(written)) == a + b
    assert _carry_steps(12345, 67890)[0] == "digit 1: 5+0+0=5, write 5 carry 0"
    assert _carry_steps(58, 67)[1] == "digit 2: 5+6+1=12, write 2 carry 1"
