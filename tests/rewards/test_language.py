"""language_reward: the share of target-language words in the reasoning, with hand-counted words."""

import time

import pytest

from r1kit.rewards.context import RewardContext
from r1kit.rewards.language import count_words, language_reward, reasoning_text

MIXED = "<think>We compute 先算 the sum: 2+3=5, so x = 5.</think> <answer>5</answer>"  # en 5, zh 2


@pytest.mark.parametrize("text,counts", [
    ("We compute 先算 the sum: 2+3=5, so x = 5.", {"en": 5, "zh": 2, "other": 0}),  # "x": a variable
    ("\\frac{a}{b} 因为 \\alpha + \\sqrt{2}", {"en": 0, "zh": 2, "other": 0}),  # LaTeX commands, single letters
    ("the число", {"en": 1, "zh": 0, "other": 1}),
    ("漢字ひらがな", {"en": 0, "zh": 2, "other": 1}),  # each ideograph a word, a kana run one word
    ("x² 你好", {"en": 0, "zh": 2, "other": 0}),  # "²" is word-like to `re`, but not a letter
    ("café naïve Ærø", {"en": 3, "zh": 0, "other": 0}),  # Latin-1 letters are Latin
    ("cafe\u0301ine", {"en": 1, "zh": 0, "other": 0}),  # decomposed é: one word after NFC
    ("abcабв", {"en": 1, "zh": 0, "other": 1}),  # a script change splits a run
    ("яxя", {"en": 0, "zh": 0, "other": 2}),  # so does a (dropped) single Latin letter
    ("a<think>b</think> 你好<answer>", {"en": 0, "zh": 2, "other": 0}),  # tags are not words
    ("2 + 3 = 5; x, y, z", {"en": 0, "zh": 0, "other": 0}),
    ("", {"en": 0, "zh": 0, "other": 0}),
])
def test_count_words(text, counts):
    assert count_words(text) == counts


@pytest.mark.parametrize("text,language,expected", [
    (MIXED, "en", 5 / 7),
    (MIXED, "zh", 2 / 7),
    ("<think>只用中文推理</think> <answer>5</answer>", "zh", 1.0),
    ("<think>只用中文推理</think> <answer>5</answer>", "en", 0.0),
    ("<think>the answer 是</think> The final answer is 五", "en", 2 / 3),  # the answer is not the CoT
    ("hello world 你好</think> 5", "en", 0.5),  # chat form: no opening tag
    ("<think>hello world 你好", "en", 0.5),  # unclosed think: runs to the end
    ("plain english words here <answer>五</answer>", "en", 1.0),  # no think tag: text before <answer>
    ("中文<|im_end|> english english", "zh", 1.0),  # text after eos ignored
])
def test_language_reward(text, language, expected):
    assert language_reward(text, None, RewardContext(), language=language) == pytest.approx(expected, abs=1e-12)


def test_default_language_is_english():
    assert language_reward(MIXED, None, None) == pytest.approx(5 / 7)


@pytest.mark.parametrize("text,language", [
    ("<think></think> <answer>5</answer>", "en"),  # empty reasoning
    ("<think>2 + 3 = 5, x = 5</think> <answer>5</answer>", "en"),  # no words at all
    (MIXED, "fr"),  # unsupported target
    (MIXED, None),
    (None, "en"),
    (b"<think>bytes</think>", "en"),
])
def test_does_not_apply(text, language):
    assert language_reward(text, None, None, language=language) is None


def test_reasoning_text():
    assert reasoning_text("<think> a b </think> <answer>c</answer>") == "a b"
    assert reasoning_text("a b </think> c") == "a b"
    assert reasoning_text("a b <answer>c</answer>") == "a b "


def test_hostile_inputs_are_fast_and_never_raise():
    hostile = [
        "<think>" + "word 中 x² \\frac " * 60_000 + "</think> <answer>1</answer>",  # ~1 MB
        "<think>" + "a" * 1_000_000,
        "<think>" * 150_000,
        "я " * 500_000,
        "<think>r\x00\x00中</think>\x00",
        "<think>\ud800abc\udfff中</think>",  # lone surrogates
        "<think>\u202e\ufeff\U0010ffff\U00020000</think>",
    ]
    start = time.perf_counter()
    results = [language_reward(text, None, None, language="zh") for text in hostile]
    assert time.perf_counter() - start < 1.5
    assert all(r is None or 0.0 <= r <= 1.0 for r in results)
    assert results[4] == 1.0 and results[5] == 0.5 and results[6] == 1.0
