"""The LLM judge's prompt and verdict parsing (pipeline/judge.py); its use by `r1kit generate` is in
test_generate.py."""

import pytest

from r1kit.pipeline.judge import judge_prompt, needs_judge, parse_judgement


@pytest.mark.parametrize("reply,verdict", [
    ("CORRECT", True), ("INCORRECT", False), ("correct.", True), ("The answer is Incorrect", False),
    ("Not INCORRECT at first glance... final: CORRECT", True),  # the last word decides
    ("It is CORRECT? No: INCORRECT", False),
    ("INCORRECTLY done", None), ("uncorrected", None), ("", None), (None, None)])
def test_parse_judgement(reply, verdict):
    assert parse_judgement(reply) is verdict


def test_prompt_holds_problem_reference_and_final_part_only():
    text = judge_prompt("  Name the set of primes.\n", "all primes p", " \\boxed{P} ")
    assert "Name the set of primes.\n\nReference answer:\nall primes p\n\nFinal part of the response:\n\\boxed{P}" in text
    assert text.endswith("CORRECT or INCORRECT.")


@pytest.mark.parametrize("sample,needed", [
    ({"correct": None, "content": "x"}, True), ({"correct": False, "content": "x"}, False),
    ({"correct": None, "content": " "}, False), ({"correct": None, "judged": True, "content": "x"}, False)])
def test_needs_judge(sample, needed):
    assert needs_judge(sample) is needed
