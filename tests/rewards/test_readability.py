"""readability / readability_counts: readable, language-mixed and malformed completions, table-driven."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.rewards.language import readability, readability_counts

EN = " <think>\ncolumn by column:\nadd 5+8+0=13\nadd 8+1+1=10\n</think> <answer>103</answer>"
ZH = " <think>\n逐位计算:\n加 5+8+0=13\n加 8+1+1=10\n</think> <answer>103</answer>"
MIXED = " <think>\n逐位计算:\nadd 5+8+0=13\n加 8+1+1=10\n</think> <answer>103</answer>"


@pytest.mark.parametrize("completion,kw,expected", [
    (EN, {}, "readable"),
    (ZH, {}, "mixed"),                                   # words, none in the target language
    (ZH, {"language": "zh"}, "readable"),
    (MIXED, {}, "mixed"),                                # en share 1/6 (add; 逐位计算 is 4 words, 加 1)
    (MIXED, {"language": "zh"}, "mixed"),                # zh share 5/6
    (MIXED, {"language": "zh", "min_share": 0.8}, "readable"),
    (" <think>\n</think> <answer>42</answer>", {}, "readable"),          # direct answer, no words
    (" <think>\n5+8+0=13\n</think> <answer>13</answer>", {}, "readable"),  # digits only
    (" <think>\nthe sum 加\n</think> <answer>1</answer>", {"min_share": 0.6}, "readable"),  # 2/3 >= 0.6
    (" <think>\nthe sum 加\n</think> <answer>1</answer>", {"min_share": 0.7}, "mixed"),
    (" <think>\ncolumn by column:\nadd 5+8", {}, "malformed"),          # cut off mid-reasoning
    (" <think>\n</think> <answer>", {}, "malformed"),                   # answer cut off
    ("<answer>42</answer>", {}, "malformed"),                           # no think block
    ("42", {}, "malformed"),
    ("column by column:\nadd 1+1+0=02\n</think> <answer>2</answer>", {"think_open": True}, "readable"),
    ("column by column:\nadd 1+1+0=02", {"think_open": True}, "malformed"),
    (None, {}, "malformed"),
])
def test_readability_table(completion, kw, expected):
    assert readability(completion, **kw) == expected


def test_counts_are_shares():
    counts = readability_counts([EN, ZH, MIXED, "42"])
    assert counts == {"readable": 0.25, "mixed": 0.5, "malformed": 0.25}
    assert readability_counts([EN, ZH], language="zh") == {"readable": 0.5, "mixed": 0.5, "malformed": 0.0}
    assert readability_counts([]) == {"readable": 0.0, "mixed": 0.0, "malformed": 0.0}


def test_generated_traces_classify_by_language():
    task = ArithmeticTask(digits=5)
    exs = task.examples("train", 20)
    by = {lang: [task.solution(ex, True, lang, summary=True) for ex in exs] for lang in ("en", "zh", "mixed")}
    assert readability_counts(by["en"])["readable"] == 1.0
    assert readability_counts(by["zh"], language="zh")["readable"] == 1.0
    assert readability_counts(by["mixed"])["mixed"] == readability_counts(by["mixed"], language="zh")["mixed"] == 1.0
    assert readability_counts([task.solution(ex) for ex in exs])["readable"] == 1.0
