"""Each trace filter on crafted samples (pipeline/filters.py), then their composition and the chat form."""

import pytest

from r1kit.pipeline.filters import (FILTERS, FilterConfig, apply_filters, has_code_block, is_incorrect,
                                    is_mixed_language, is_truncated, language_share, longest_paragraph,
                                    readable, repetition_share, to_chat)


def sample(pid="p1", k=0, reasoning="First add the units, then carry the one.", content="The answer is 5.",
           correct=True, finish="stop"):
    return {"problem_id": pid, "sample": k, "messages": [{"role": "user", "content": f"problem {pid}"}],
            "reasoning": reasoning, "content": content, "correct": correct, "finish_reason": finish}


@pytest.mark.parametrize("correct,keep_uncheckable,fault", [
    (True, False, False), (False, False, True), (None, False, True), (None, True, False), (False, True, True)])
def test_incorrect(correct, keep_uncheckable, fault):
    assert is_incorrect(sample(correct=correct), keep_uncheckable) is fault


@pytest.mark.parametrize("finish,content,fault", [
    ("stop", "5", False), ("length", "5", True), ("stop", "", True), ("stop", "  \n", True), ("", "5", False)])
def test_truncated(finish, content, fault):
    assert is_truncated(sample(finish=finish, content=content)) is fault


def test_language_share_counts_words():
    # 3 English words + 2 Han ideographs (each one word); digits, "x" and \frac are not words
    text = "so we add 先算 x = \\frac{1}{2} 42"
    assert language_share(text, "en") == pytest.approx(3 / 5)
    assert language_share(text, "zh") == pytest.approx(2 / 5)
    assert language_share("1 + 2 = 3", "en") is None


def test_mixed_language():
    english = "We add the units and carry the one to the tens."
    assert not is_mixed_language(english, "en", 0.95)
    assert is_mixed_language(english + " 然后", "en", 0.95)  # 11 en words, 2 zh: 0.846 < 0.95
    assert not is_mixed_language(english + " 然后", "en", 0.8)
    assert not is_mixed_language("2 + 2 = 4", "en", 0.95)  # no words: nothing to judge


def test_longest_paragraph():
    assert longest_paragraph("a b c\n\nd e\n \nf g h i") == 4
    assert longest_paragraph("a b c\nd e") == 5  # a single newline does not end a paragraph
    assert longest_paragraph("") == 0


def test_code_block():
    assert has_code_block("Let me check:\n```python\nprint(2+2)\n```\nso 4.")
    assert has_code_block("try\n  ~~~\nx = 1\n  ~~~")
    assert not has_code_block("the `x` variable holds 2; no fences here")


def test_repetition_share():
    assert repetition_share("a b c a b c", 3) == pytest.approx(1 - 3 / 4)  # 4 trigrams, 3 distinct
    assert repetition_share("A b C a B c", 3) == pytest.approx(0.25)  # lower-cased
    assert repetition_share("one two three four", 3) == 0.0
    assert repetition_share("too short", 3) == 0.0
    loop = " ".join(["wait, let me recompute the sum again"] * 20)
    assert repetition_share(loop, 8) > 0.8


def test_each_filter_removes_its_sample_and_counts_it():
    loop = "\n\n".join(["wait, let me recompute the sum again"] * 10)  # short paragraphs, one loop
    samples = [
        sample("p1", 0),                                              # kept
        sample("p1", 1, finish="length"),                             # truncated
        sample("p1", 2, correct=False),                               # incorrect
        sample("p1", 3, reasoning="Add the units 然后进位"),            # mixed_language
        sample("p2", 0, reasoning=" ".join(["word"] * 5 + [f"w{i}" for i in range(30)])),  # long_paragraph
        sample("p2", 1, reasoning="Check:\n```\nprint(1)\n```"),      # code_block
        sample("p2", 2, reasoning=loop),                              # repetition
        sample("p1", 4, reasoning="first  ADD the units, then carry the one."),  # duplicate of p1/0 (normalised)
        sample("p2", 3, reasoning="Another way: carry first."),       # kept
        sample("p2", 4, reasoning="A third way: count up."),          # per_problem_cap (p2 already has 1)
    ]
    cfg = FilterConfig(max_paragraph_words=30, max_per_problem=1)
    kept, removed = apply_filters(samples, cfg)
    assert [(s["problem_id"], s["sample"]) for s in kept] == [("p1", 0), ("p2", 3)]
    assert removed == {name: 1 for name in FILTERS}
    assert sum(removed.values()) == len(samples) - len(kept)


def test_switched_off_filters_keep_everything():
    samples = [sample(finish="length", correct=False, reasoning="```\nx\n```"), sample(k=1), sample(k=2)]
    off = FilterConfig(correct=False, truncated=False, min_language_share=0, max_paragraph_words=0,
                       code_blocks=False, max_repetition=0, dedup=False)
    kept, removed = apply_filters(samples, off)
    assert kept == samples and sum(removed.values()) == 0


def test_a_sample_is_counted_by_the_first_filter_only():
    kept, removed = apply_filters([sample(finish="length", correct=False)], FilterConfig())
    assert kept == [] and removed["truncated"] == 1 and removed["incorrect"] == 0


def test_duplicates_are_per_problem():
    kept, removed = apply_filters([sample("p1"), sample("p2")], FilterConfig())  # same text, two problems
    assert len(kept) == 2 and removed["duplicate"] == 0


def test_to_chat():
    row = to_chat(sample(reasoning="  add 2 and 3 \n", content="\\boxed{5}\n"))
    assert row["messages"] == [{"role": "user", "content": "problem p1"},
                               {"role": "assistant", "content": "<think>\nadd 2 and 3\n</think>\n\n\\boxed{5}"}]
    assert (row["problem_id"], row["sample"]) == ("p1", 0)


@pytest.mark.parametrize("judged,keep_uncheckable,fault", [
    (True, False, False), (False, False, True), (False, True, True), (None, True, False)])
def test_judge_decides_when_verify_cannot(judged, keep_uncheckable, fault):
    s = {**sample(correct=None), "judged": judged}
    assert is_incorrect(s, keep_uncheckable) is fault
    assert is_incorrect({**sample(correct=False), "judged": True}) is True  # verify's verdict comes first


@pytest.mark.parametrize("content,summary", [
    ("<answer>42</answer>", "The answer is <answer>42</answer>."),  # R1-Zero's tag answer keeps its tags
    ("\\boxed{5}", "The answer is \\boxed{5}."),
    ("So the sum is \\boxed{5}.", "So the sum is \\boxed{5}."),  # already a sentence
    ("Adding the units gives 5, carrying none.\nSo 5", "Adding the units gives 5, carrying none.\nSo 5"),
    ("", "")])
def test_readable_summary(content, summary):
    assert readable(sample(content=content))["content"] == summary


def test_readable_tidies_reasoning_and_keeps_the_rest():
    s = sample(reasoning="<think>add  \n\n\n\nthe units</think>   \n", content="5")
    out = readable(s)
    assert out["reasoning"] == "add\n\nthe units" and out["content"] == "The answer is 5."
    assert {k: v for k, v in out.items() if k not in ("reasoning", "content")} == \
        {k: v for k, v in s.items() if k not in ("reasoning", "content")}
    assert to_chat(out)["messages"][-1]["content"] == "<think>\nadd\n\nthe units\n</think>\n\nThe answer is 5."


@pytest.mark.parametrize("bad", [{"language": "fr"}, {"min_language_share": 1.5}, {"max_repetition": -0.1},
                                 {"repetition_ngram": 0}, {"max_per_problem": -1}])
def test_bad_filter_settings_are_user_errors(bad):
    from r1kit.errors import R1kitError

    with pytest.raises(R1kitError, match="filters"):
        FilterConfig(**bad)
