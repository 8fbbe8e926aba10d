"""Incremental detokenization, the reasoning/content split and stop strings, one token at a time."""

import pytest

from r1kit.serve.textstream import ChoiceText, IncrementalDetokenizer, StopStringCutter, ThinkSplitter, held_prefix_len


def ids_of(tokenizer, *pieces):
    """Each piece encoded on its own, so piece boundaries are token boundaries."""
    return [t for p in pieces for t in tokenizer.encode(p, add_special_tokens=False)]


def run(tokenizer, ids, thinking=True, stop=()):
    out = ChoiceText(tokenizer, thinking, list(stop))
    deltas = []
    for t in ids:
        deltas.append(out.feed(t))
        if out.stopped:
            break
    deltas.append(out.finish())
    reasoning = "".join(r for r, _ in deltas)
    content = "".join(c for _, c in deltas)
    return reasoning, content, deltas, out


def test_multibyte_characters_never_show_replacement_halves(tokenizer):
    text = "héllo 😀 世界 — ∑ done"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) > len(text.split())  # the emoji and CJK really are split into byte tokens
    detok = IncrementalDetokenizer(tokenizer)
    deltas = [detok.add(t) for t in ids] + [detok.flush()]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


def test_a_cut_in_the_middle_of_a_character_drops_the_half(tokenizer):
    ids = tokenizer.encode("ok 😀", add_special_tokens=False)[:-1]  # max_tokens hit inside the emoji
    detok = IncrementalDetokenizer(tokenizer)
    assert "".join([detok.add(t) for t in ids] + [detok.flush()]) == "ok "


def test_special_tokens_never_appear(tokenizer):
    ids = ids_of(tokenizer, "a<|pad|>b", "<|User|>", "c") + [tokenizer.eos_token_id]
    reasoning, content, _, _ = run(tokenizer, ids, thinking=None)
    assert content == "abc"


@pytest.mark.parametrize("pieces", [
    ["I think.", "</think>", "Five."],                      # the tag as one (special) token
    ["I think.\n", "</", "thi", "nk", ">", "\n\nFive."],    # the tag across four tokens
    ["I think.\n\n</", "think>\n\n", "Five."],
])
def test_reasoning_then_content(tokenizer, pieces):
    reasoning, content, deltas, out = run(tokenizer, ids_of(tokenizer, *pieces))
    assert (reasoning, content) == ("I think.", "Five.")
    assert not any("<" in r or "<" in c for r, c in deltas)  # no tag prefix ever leaked
    first_content = next(i for i, (_, c) in enumerate(deltas) if c)
    assert not any(r for r, _ in deltas[first_content:])  # reasoning strictly before content


def test_reasoning_tokens_count_up_to_the_closing_tag(tokenizer):
    pieces = ["I think.\n", "</", "think", ">", "Five."]
    _, _, _, out = run(tokenizer, ids_of(tokenizer, *pieces) + [tokenizer.eos_token_id])
    n_reasoning = len(ids_of(tokenizer, *pieces[:4]))
    assert out.reasoning_tokens == n_reasoning
    assert out.completion_tokens == len(ids_of(tokenizer, *pieces)) + 1


@pytest.mark.parametrize("text, expected", [
    ("no closing tag at all", ("no closing tag at all", "")),        # cut by max_tokens: all reasoning
    ("<think>\nreopened</think>x", ("reopened", "x")),               # a model opening the block again
    ("a < b and a </b> too</think>x", ("a < b and a </b> too", "x")),  # near-tags are text
    ("  \n</think>\n\n  answer \n", ("", "answer \n")),               # empty reasoning
    ("r</think>", ("r", "")),
    ("ends in a partial </thi", ("ends in a partial </thi", "")),
])
def test_think_splitter_table(text, expected):
    whole = ThinkSplitter(True)
    r1, c1 = whole.add(text)
    r2, c2 = whole.flush()
    by_char = ThinkSplitter(True)
    parts = [by_char.add(ch) for ch in text] + [by_char.flush()]
    assert (r1 + r2, c1 + c2) == expected
    assert ("".join(r for r, _ in parts), "".join(c for _, c in parts)) == expected  # chunking-independent


def test_thinking_off_is_all_content(tokenizer):
    reasoning, content, _, out = run(tokenizer, ids_of(tokenizer, "\nJust ", "</think>", " five."), thinking=False)
    assert (reasoning, content, out.reasoning_tokens) == ("", "Just </think> five.", 0)


def test_stop_string_across_tokens_cuts_the_content_only(tokenizer):
    pieces = ["think STOP here", "</think>", "The ans", "wer ST", "OP is 5"]
    reasoning, content, deltas, out = run(tokenizer, ids_of(tokenizer, *pieces), stop=["STOP"])
    assert (reasoning, content, out.stopped) == ("think STOP here", "The answer ", True)


def test_stop_string_cutter_holds_only_possible_prefixes():
    m = StopStringCutter(["abc", "xyz"])
    assert m.add("hello a") == "hello "
    assert m.add("bd") == "abd"
    assert m.add("x") == "" and m.add("yz!") == "" and m.stopped
    assert m.add("more") == "" and m.flush() == ""


@pytest.mark.parametrize("text, needle, n", [("abc</th", "</think>", 4), ("abc", "</think>", 0), ("x<", "<", 0),
                                             ("</think", "</think>", 7)])
def test_held_prefix_len(text, needle, n):
    assert held_prefix_len(text, needle) == n
