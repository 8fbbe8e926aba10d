"""Multiple-choice answers (GPQA-style): which letter did the completion choose?

    extract_choice("<think>maybe (B)?</think> The answer is (C).")   # "C"
    verify_choice("Answer: C", "(C)")                                 # 1.0

The chosen letter is the one in the *last* statement of any of these forms, searched only after
the reasoning (after the last </think>) when there is one:

* "Answer: X" / "answer is X" / "answer is (X)" / "Answer: **X**" (simple-evals' GPQA format),
  the letter upper-case (so "the answer is a bit unclear" chooses nothing),
* \\boxed{X}, \\boxed{(X)}, \\boxed{\\text{X}},
* <answer>X</answer>.

A letter counts only when it stands alone (followed by a non-letter): "Answer: Because …" is not
a choice of B. Letters are A–Z by default; pass `letters="ABCD"` to restrict them. Linear-time
scans only; nothing here raises.
"""

from __future__ import annotations

import re

from r1kit.data.templates import THINK_CLOSE, last_answer_block

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# "answer" then ":" or "is", then optional markup, then one letter standing alone. The gap between
# "answer" and the letter is bounded, so the scan is linear on any input.
_MARKUP = r"(?:\*{1,2}|_|\$|\(|\[|\\(?:text|textbf|mathrm|mathbf)\s*\{|\s)"
_STATEMENT = re.compile(r"(?i:answer)(?:\s*:|\s+is\s*:?)" + _MARKUP + r"{0,8}([A-Z])(?![A-Za-z])")
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{\s*)?\(?\s*([A-Za-z])\s*\)?\s*\}")
_BARE_LETTER = re.compile(r"\s*\(?\s*([A-Za-z])\s*\)?\s*\.?\s*")
MAX_SCAN_CHARS = 20_000  # the choice is stated near the end; scan no more than this tail


def extract_choice(text: str | None, letters: str = LETTERS) -> str | None:
    """The upper-case letter chosen last in `text` (module docstring), or None."""
    if not isinstance(text, str):
        return None
    cut = text.rfind(THINK_CLOSE)
    if cut != -1:
        text = text[cut + len(THINK_CLOSE) :]
    text = text[-MAX_SCAN_CHARS:]
    allowed = set(letters.upper())
    found: list[tuple[int, str]] = []
    for pattern in (_STATEMENT, _BOXED):
        for m in pattern.finditer(text):
            if m.group(1).upper() in allowed:
                found.append((m.start(1), m.group(1).upper()))
    block = last_answer_block(text)
    if block is not None:
        m = _BARE_LETTER.fullmatch(block)
        if m and m.group(1).upper() in allowed:
            found.append((text.rfind(block), m.group(1).upper()))
    return max(found)[1] if found else None


def gold_letter(gold: str | None, letters: str = LETTERS) -> str | None:
    """The letter a gold answer names: a bare letter ("C", "(c)") or any text `extract_choice` reads."""
    if not isinstance(gold, str):
        return None
    m = _BARE_LETTER.fullmatch(gold[:100])
    if m and m.group(1).upper() in letters.upper():
        return m.group(1).upper()
    return extract_choice(gold, letters)


def verify_choice(pred: str | None, gold: str | None, letters: str = LETTERS) -> float | None:
    """1.0 if the letter chosen in `pred` is `gold`'s letter, 0.0 if not; None for an unusable gold."""
    want = gold_letter(gold, letters)
    if want is None:
        return None
    return 1.0 if extract_choice(pred, letters) == want else 0.0


def letters_of(example, default: str = LETTERS) -> str:
    """The letters offered for `example`: the first len(meta["choices"]) of A-Z, else `default`."""
    choices = (getattr(example, "meta", None) or {}).get("choices")
    return LETTERS[: len(choices)] if isinstance(choices, list) and 2 <= len(choices) <= 26 else default
