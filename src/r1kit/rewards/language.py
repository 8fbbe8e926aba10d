"""The language-consistency reward: the share of the reasoning's words that are in the target language.

    language_reward("<think>先算 the sum</think> <answer>5</answer>", ex, ctx, language="zh")   # 2/4 = 0.5

DeepSeek-R1 (arXiv 2501.12948, section 2.3.2 of v1, "Reasoning-oriented Reinforcement Learning")
adds this reward against language mixing in the CoT, "calculated as the proportion of target
language words in the CoT". The report does not define a word; here (`count_words`):

* a CJK ideograph (Han script, incl. extensions A-G and compatibility ideographs) is one word, of "zh";
* a maximal run of two or more Latin-script letters (ASCII, Latin-1, Latin Extended-A/B, Latin
  Extended Additional) is one word, of "en";
* any other maximal run of letters (Cyrillic, kana, Hangul, ...) is one word, of neither language;
* not words, either way: digits, punctuation, math symbols, single Latin letters (in a CoT they are
  almost always variables, "let x = 2"), LaTeX command names (\\frac, \\alpha) and the R1 tags.

The text is NFC-normalised first, so a decomposed "é" is one letter. Supported targets: "en", "zh";
any other language gives None. A handful of `re` passes: linear time, no backtracking.
"""

from __future__ import annotations

import re
import unicodedata

from r1kit.data.templates import ANSWER_OPEN, TAGS, cut_at_eos, parse_completion

_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_LATIN_WORD = re.compile(f"[{_LATIN}]{{2,}}")
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
_LETTER_RUN = re.compile(r"[^\W\d_]+")  # \w minus digits and "_": letters, plus numerals like "²"
TARGETS = ("en", "zh")


def count_words(text: str) -> dict[str, int]:
    """Words of `text` by language: {"en": n, "zh": n, "other": n} (module docstring)."""
    text = unicodedata.normalize("NFC", text)
    for tag in TAGS:
        text = text.replace(tag, " ")
    text = _LATEX_COMMAND.sub(" ", text)
    text, zh = _HAN.subn(" ", text)
    text, en = _LATIN_WORD.subn(" ", text)
    text = _LATIN_LETTER.sub(" ", text)  # the single letters left: variables, not words
    other = 0
    for match in _LETTER_RUN.finditer(text):  # skip runs of letter-like numerals only ("²", "Ⅳ")
        run = match.group()
        other += run.isalpha() or any(ch.isalpha() for ch in run)
    return {"en": en, "zh": zh, "other": other}


def reasoning_text(completion: str) -> str:
    """The CoT of `completion`: the think block (`parse_completion`: the opening tag may be missing,
    an unclosed block runs to the end); with no think tag at all, the text before the first <answer>
    (a chat-form completion cut off mid-reasoning has no tag). Text after an eos marker is ignored."""
    reasoning = parse_completion(completion).reasoning
    if reasoning is None:
        reasoning = cut_at_eos(completion).partition(ANSWER_OPEN)[0]
    return reasoning


def language_reward(completion: str, example=None, ctx=None, *, language: str = "en") -> float | None:
    """The share of target-language words in the reasoning, in [0, 1].

        r = n_target / (n_en + n_zh + n_other)     counts from `count_words(reasoning_text(completion))`

    None when the reasoning has no words (empty, or only math), `language` is not "en" or "zh",
    or the completion is not a string.
    """
    try:
        if language not in TARGETS or not isinstance(completion, str):
            return None
        counts = count_words(reasoning_text(completion))
        total = sum(counts.values())
        return counts[language] / total if total else None
    except Exception:  # the reward contract: never raise
        return None


READABILITY = ("readable", "mixed", "malformed")


def readability(completion: str, *, think_open: bool = False, language: str = "en", min_share: float = 0.95) -> str:
    """One completion's readability (DeepSeek-R1 §2.3: R1-Zero's "poor readability, and language mixing"):

        "malformed"  no closed reasoning block or no final answer (`parse_completion`: think_closed
                     and answer), e.g. cut off mid-reasoning or a bare answer without tags;
        "mixed"      the reasoning has words and n_language / (n_en + n_zh + n_other) < min_share
                     (`count_words`), so a reasoning wholly in another language counts here too;
        "readable"   otherwise, including a direct answer whose reasoning has no words.
    """
    parsed = parse_completion(completion, think_open) if isinstance(completion, str) else None
    if parsed is None or not parsed.think_closed or parsed.answer is None:
        return "malformed"
    counts = count_words(parsed.reasoning or "")
    total = sum(counts.values())
    return "mixed" if total and counts.get(language, 0) / total < min_share else "readable"


def readability_counts(completions: list[str], **kw) -> dict[str, float]:
    """Share of `completions` in each `readability` class ({"readable", "mixed", "malformed"} -> [0, 1],
    summing to 1; all 0.0 for no completions). Keywords go to `readability`."""
    labels = [readability(c, **kw) for c in completions]
    return {name: labels.count(name) / len(labels) if labels else 0.0 for name in READABILITY}
