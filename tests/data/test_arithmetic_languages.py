"""Worded arithmetic traces (issue 10): English, Chinese and mixed reasoning with the same digit lines."""

import hashlib

import pytest

from r1kit.data.arithmetic import HEADERS, STEPS_HEADER, ArithmeticTask, add_steps, line_languages, mul_steps
from r1kit.data.templates import parse_completion
from r1kit.errors import R1kitError
from r1kit.rewards.language import count_words
from r1kit.verify import score


def _reasoning_lines(text):
    return parse_completion(text).reasoning.split("\n")


def test_language_none_is_byte_identical_to_before():
    """sha256 of 300 solutions computed with the code before `language=` existed."""
    h = hashlib.sha256()
    for op in "+-*":
        task = ArithmeticTask(digits=5, op=op)
        for ex in task.examples("train", 50):
            for show_steps in (False, True):
                h.update(task.solution(ex, show_steps=show_steps).encode())
    assert h.hexdigest()[:16] == "c4154c4e4be8ea27"
    ex = ArithmeticTask().examples("train", 1)[0]
    assert ArithmeticTask().solution(ex, show_steps=True, language=None) == (
        " <think>\ncolumn by column:\n5+8+0=13\n8+1+1=10\n5+1+1=07\n0+3+0=03\n5+3+0=08\n"
        "</think> <answer>83703</answer>")


def test_worded_traces_exact_text():
    task = ArithmeticTask()
    ex = task._example("x", 50585, 33118)  # 50585 + 33118 = 83703
    assert task.solution(ex, show_steps=True, language="zh") == (
        " <think>\n逐位 计算 如下:\n加 5+8+0=13\n加 8+1+1=10\n加 5+1+1=07\n加 0+3+0=03\n加 5+3+0=08\n"
        "</think> <answer>83703</answer>")
    en = task.solution(ex, show_steps=True, language="en", summary=True)
    assert en == (" <think>\ncolumn by column:\nadd 5+8+0=13\nadd 8+1+1=10\nadd 5+1+1=07\nadd 0+3+0=03\n"
                  "add 5+3+0=08\n</think> so the sum is 83703. <answer>83703</answer>")


@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_word_counts_by_language(op):
    task = ArithmeticTask(digits=5, op=op)
    for ex in task.examples("train", 30):
        en = count_words(parse_completion(task.solution(ex, True, "en")).reasoning)
        zh = count_words(parse_completion(task.solution(ex, True, "zh")).reasoning)
        mixed = count_words(parse_completion(task.solution(ex, True, "mixed")).reasoning)
        assert en["zh"] == 0 and en["en"] > 0 and en["other"] == 0
        assert zh["en"] == 0 and zh["zh"] > 0 and zh["other"] == 0
        assert mixed["en"] > 0 and mixed["zh"] > 0


@pytest.mark.parametrize("language", ["en", "zh", "mixed"])
def test_digit_part_equals_todays_lines(language):
    """Each worded line is one word, a space, then exactly today's line; the header is en or zh."""
    for op, steps_fn in (("+", add_steps), ("*", mul_steps)):
        task = ArithmeticTask(digits=4, op=op)
        for ex in task.examples("train", 20):
            header, *lines = _reasoning_lines(task.solution(ex, show_steps=True, language=language))
            assert header in HEADERS.values()
            assert [line.split(" ", 1)[1] for line in lines] == steps_fn(ex.meta["a"], ex.meta["b"])
            assert all(len(line.split(" ", 1)[0]) in (1, 3) for line in lines)  # 加 / add


def test_mixed_is_deterministic_per_example_and_varies_across_examples():
    task = ArithmeticTask(digits=5)
    exs = task.examples("train", 40)
    first = [task.solution(ex, True, "mixed") for ex in exs]
    assert first == [task.solution(ex, True, "mixed") for ex in exs]
    assert len(set(tuple(line_languages(5, "mixed", ex.id)) for ex in exs)) > 5
    # both languages even where every draw would agree; a trace with no steps stays one language
    assert all({"en", "zh"} <= set(line_languages(1, "mixed", f"k{i}")) for i in range(50))
    assert line_languages(3, "zh", "k") == ["zh"] * 4


def test_direct_answers_ignore_language_and_all_forms_score():
    task = ArithmeticTask(digits=5, op="-")
    exs = task.examples("train", 20)
    for ex in exs:
        assert task.solution(ex, False, "zh") == task.solution(ex) == f" <think>\n</think> <answer>{ex.answer}</answer>"
    texts = [task.solution(ex, True, lang, summary=True) for ex in exs for lang in ("en", "zh", "mixed")]
    verdicts = score(task, texts, [ex for ex in exs for _ in range(3)])
    assert all(v.score == 1.0 for v in verdicts)
    assert task.solution(exs[0], summary=True).endswith(f"</think> so the difference is {exs[0].answer}. "
                                                       f"<answer>{exs[0].answer}</answer>")


def test_unknown_language_is_an_error():
    task = ArithmeticTask()
    with pytest.raises(R1kitError, match="unknown trace language 'fr'"):
        task.solution(task.examples("train", 1)[0], True, "fr")


def test_header_constant_unchanged():
    assert STEPS_HEADER == HEADERS["en"] == "column by column:"
