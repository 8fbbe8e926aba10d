"""Filters that turn generated traces into SFT data (DeepSeek-R1, arXiv 2501.12948, §2.3.3 "Rejection Sampling
and Supervised Fine-Tuning": keep the correct responses, filter out "chain-of-thought with mixed languages,
long paragraphs, and code blocks").

    kept, removed = apply_filters(samples, FilterConfig(max_per_problem=2))
    removed            # {"truncated": 3, "incorrect": 10, "mixed_language": 1, ..., "per_problem_cap": 4}
    [to_chat(s) for s in kept]   # {"messages": [user turn, assistant "<think>\\n…\\n</think>\\n\\n<answer>"]}

A sample is one line of `r1kit generate`'s samples.jsonl: a dict with "problem_id", "sample", "messages"
(the prompt turns), "reasoning", "content" (the final part), "correct" (r1kit.verify's verdict: true,
false, or null when the gold cannot be checked) and "finish_reason". Each check below is a pure function
of one sample (True = the sample has the fault); `apply_filters` runs them in the order of FILTERS and
counts each sample once, against the first filter that removes it. Deduplication and the per-problem cap
look across samples and run last.

A sample verify could not score may carry "judged" (pipeline/judge.py), the LLM judge's verdict.
`readable` is the cold-start rewrite into "reasoning, then summary" (R1 §2.3.1: "|special_token|
<reasoning_process>|special_token|<summary>"), by rule: tidied text and a summary that states the answer.
An LLM rewrite (the report's human/model post-processing) is not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FilterConfig:
    """Which samples become SFT data. A check whose threshold is 0 (or False) is off."""

    correct: bool = True
    """Drop samples r1kit.verify scored wrong."""
    keep_uncheckable: bool = False
    """Samples whose gold cannot be rule-checked (verdict null) and that no judge decided: keep them or not."""
    truncated: bool = True
    """Drop samples cut off by the token budget (finish_reason "length") or with no final part."""
    language: str = "en"
    """The language the reasoning should be in ("en" or "zh"; r1kit.rewards.language counts words)."""
    min_language_share: float = 0.95
    """Drop reasoning whose share of words in `language` is below this (0 = off)."""
    max_paragraph_words: int = 400
    """Drop reasoning with a paragraph (text between blank lines) of more words than this (0 = off)."""
    code_blocks: bool = True
    """Drop reasoning that holds a fenced code block (```)."""
    repetition_ngram: int = 8
    """n of the repetition check: overlapping n-grams of lower-cased words of reasoning and answer."""
    max_repetition: float = 0.3
    """Drop samples whose share of repeated n-grams, 1 - distinct/total, exceeds this (0 = off)."""
    dedup: bool = True
    """Keep one of the samples of a problem whose reasoning and answer are the same text once normalised."""
    max_per_problem: int = 0
    """Keep at most this many samples per problem, lowest sample index first (0 = no cap)."""

    def __post_init__(self) -> None:
        from r1kit.errors import R1kitError
        from r1kit.rewards.language import TARGETS

        if self.language not in TARGETS:
            raise R1kitError(f"filters.language must be one of {', '.join(TARGETS)}, got {self.language!r}")
        if not 0 <= self.min_language_share <= 1 or not 0 <= self.max_repetition <= 1:
            raise R1kitError("filters.min_language_share and filters.max_repetition must be in [0, 1]")
        if self.max_paragraph_words < 0 or self.repetition_ngram < 1 or self.max_per_problem < 0:
            raise R1kitError("filters: max_paragraph_words and max_per_problem must be >= 0, repetition_ngram >= 1")


def is_incorrect(sample: dict, keep_uncheckable: bool = False) -> bool:
    """True when verify scored the sample wrong, or, where verify could not (correct null), the LLM judge
    did (judged false); with neither verdict the sample counts as wrong unless keep_uncheckable."""
    verdict = sample.get("correct")
    verdict = sample.get("judged") if verdict is None else verdict
    return (not keep_uncheckable) if verdict is None else verdict is not True


def is_truncated(sample: dict) -> bool:
    """True when generation hit the token budget, or the reasoning never closed (no final part)."""
    return sample.get("finish_reason") == "length" or not (sample.get("content") or "").strip()


def language_share(text: str, language: str = "en") -> float | None:
    """n_language / (n_en + n_zh + n_other) words of `text` (rewards.language.count_words); None if no words."""
    from r1kit.rewards.language import count_words

    counts = count_words(text)
    total = sum(counts.values())
    return counts.get(language, 0) / total if total else None


def is_mixed_language(reasoning: str, language: str = "en", min_share: float = 0.95) -> bool:
    """True when fewer than `min_share` of the reasoning's words are in `language` (no words: False)."""
    share = language_share(reasoning, language)
    return share is not None and share < min_share


def longest_paragraph(text: str) -> int:
    """Words in the longest paragraph; paragraphs are separated by one or more blank lines."""
    return max((len(p.split()) for p in re.split(r"\n\s*\n", text)), default=0)


def has_code_block(reasoning: str) -> bool:
    """True when the reasoning holds a Markdown code fence (``` or ~~~ at the start of a line)."""
    return re.search(r"^\s*(```|~~~)", reasoning, flags=re.MULTILINE) is not None


def repetition_share(text: str, n: int = 8) -> float:
    """1 - distinct/total over the overlapping word n-grams of `text` lower-cased (rewards.repetition with
    max_penalty -1, negated): 0 when no n-gram repeats, towards 1 for a loop; 0 with fewer than n words."""
    from r1kit.rewards.repetition import repetition_penalty

    return -repetition_penalty(text.lower().split(), n, -1.0) + 0.0  # + 0.0: no -0.0


def normalised(text: str) -> str:
    """Lower-cased, whitespace runs collapsed to one space: the key of deduplication."""
    return " ".join(text.lower().split())


def _checks(cfg: FilterConfig) -> dict:
    """The per-sample checks switched on by `cfg`, in the order they run: name -> (sample -> fault?)."""
    checks = {}
    if cfg.truncated:
        checks["truncated"] = is_truncated
    if cfg.correct:
        checks["incorrect"] = lambda s: is_incorrect(s, cfg.keep_uncheckable)
    if cfg.min_language_share > 0:
        checks["mixed_language"] = lambda s: is_mixed_language(s.get("reasoning") or "", cfg.language,
                                                               cfg.min_language_share)
    if cfg.max_paragraph_words > 0:
        checks["long_paragraph"] = lambda s: longest_paragraph(s.get("reasoning") or "") > cfg.max_paragraph_words
    if cfg.code_blocks:
        checks["code_block"] = lambda s: has_code_block(s.get("reasoning") or "")
    if cfg.max_repetition > 0:
        checks["repetition"] = lambda s: repetition_share(
            f"{s.get('reasoning') or ''} {s.get('content') or ''}", cfg.repetition_ngram) > cfg.max_repetition
    return checks


FILTERS = ("truncated", "incorrect", "mixed_language", "long_paragraph", "code_block", "repetition", "duplicate",
           "per_problem_cap")


def apply_filters(samples: list[dict], cfg: FilterConfig) -> tuple[list[dict], dict[str, int]]:
    """(kept samples in input order, {filter: samples it removed}) for every name in FILTERS.

    A sample is counted once, by the first filter (in FILTERS order) that removes it, so the counts sum
    to len(samples) - len(kept). Duplicates: among samples of one problem with the same normalised
    reasoning + answer, the first kept wins. The cap keeps each problem's first `max_per_problem`."""
    removed = dict.fromkeys(FILTERS, 0)
    checks = _checks(cfg)
    seen: set[tuple[str, str]] = set()
    per_problem: dict[str, int] = {}
    kept = []
    for s in samples:
        fault = next((name for name, check in checks.items() if check(s)), None)
        key = (str(s.get("problem_id")), normalised(f"{s.get('reasoning') or ''}\n{s.get('content') or ''}"))
        if fault is None and cfg.dedup and key in seen:
            fault = "duplicate"
        if fault is None and cfg.max_per_problem and per_problem.get(key[0], 0) >= cfg.max_per_problem:
            fault = "per_problem_cap"
        if fault is not None:
            removed[fault] += 1
            continue
        seen.add(key)
        per_problem[key[0]] = per_problem.get(key[0], 0) + 1
        kept.append(s)
    return kept, removed


def to_chat(sample: dict) -> dict:
    """The SFT row of a kept sample: its prompt turns, then one assistant turn holding the reasoning in a
    think block followed by the answer, "<think>\\n{reasoning}\\n</think>\\n\\n{content}" (the R1 output form)."""
    reasoning, content = (sample.get("reasoning") or "").strip(), (sample.get("content") or "").strip()
    answer = f"<think>\n{reasoning}\n</think>\n\n{content}"
    return {"messages": [*sample["messages"], {"role": "assistant", "content": answer}],
            "problem_id": sample.get("problem_id"), "sample": sample.get("sample")}


_TAG = re.compile(r"</?(think|answer)>")
_TAGGED_ANSWER = re.compile(r"<answer>([^\n<]*)</answer>")


def _tidy(text: str) -> str:
    """R1 tags removed, trailing spaces cut, runs of blank lines made one, ends stripped."""
    text = "\n".join(line.rstrip() for line in _TAG.sub("", text).splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def readable(sample: dict) -> dict:
    """A copy of `sample` in the cold-start form "reasoning, then summary": reasoning and final part tidied
    (`_tidy`), and a final part that is a bare answer (one line, no sentence: "<answer>42</answer>", "42")
    made a sentence that summarises: "The answer is 42."; an R1-Zero tag answer keeps its tags, "The answer
    is <answer>42</answer>." The verdict and other fields are unchanged."""
    reasoning, summary = _tidy(sample.get("reasoning") or ""), _tidy(sample.get("content") or "")
    tagged = _TAGGED_ANSWER.fullmatch((sample.get("content") or "").strip())
    if tagged:  # R1-Zero's form: the tags stay, they are how its answers are scored and where sampling stops
        return {**sample, "reasoning": reasoning, "content": f"The answer is <answer>{tagged.group(1).strip()}</answer>."}
    if summary and "\n" not in summary and not re.search(r"[.!?]$", summary) and len(summary.split()) <= 3:
        summary = f"The answer is {summary}."
    return {**sample, "reasoning": reasoning, "content": summary}
