"""Checks for r1kit's synthetic tasks: integer answers (arithmetic) and Countdown equations.

    check_integer("80,235", "80235")                                       # 1.0
    check_countdown("44 + 19 - 35 = 28", {"numbers": [44, 19, 35], "target": 28})   # 1.0

Both take the extracted answer (r1kit.verify.score does the extraction) and never raise: a
malformed answer is wrong (0.0); a gold that cannot be read is None (the sample is skipped).
"""

from __future__ import annotations

from collections import Counter

from r1kit.verify.safe_eval import evaluate

MAX_INTEGER_CHARS = 100  # int() of a longer digit string is slow (and raises past 4300 digits)
# Symbols models (and people) write for the four operations, mapped to Python's.
_SYMBOLS = {"×": "*", "÷": "/", "−": "-", "–": "-", "\\times": "*", "\\div": "/", "\\cdot": "*"}


def _integer(text) -> int | None:
    """`text` as an integer after removing spaces and thousands commas; None if it is not one."""
    if not isinstance(text, str) or len(text) > MAX_INTEGER_CHARS:
        return None
    try:
        return int(text.replace(" ", "").replace(",", ""))
    except ValueError:
        return None


def check_integer(answer: str | None, gold: str) -> float | None:
    """1.0 if `answer` is the integer `gold`, 0.0 if not; None when `gold` is not an integer."""
    want = _integer(gold)
    if want is None:
        return None
    got = _integer(answer)
    return 1.0 if got is not None and got == want else 0.0


def check_countdown(answer: str | None, meta: dict) -> float | None:
    """TinyZero's rule: 1.0 if `answer` uses each of meta["numbers"] exactly once (as a multiset)
    and evaluates exactly to meta["target"], else 0.0. "expr = target" is accepted (left side used).
    None when meta lacks usable numbers or target (the sample cannot be checked).
    """
    numbers, target = (meta or {}).get("numbers"), (meta or {}).get("target")
    if not isinstance(numbers, list) or not isinstance(target, int) or not all(isinstance(n, int) for n in numbers):
        return None
    if not isinstance(answer, str):
        return 0.0
    expr = answer.split("=", 1)[0]
    for symbol, py in _SYMBOLS.items():
        expr = expr.replace(symbol, py)
    result = evaluate(expr)
    if result is None:
        return 0.0
    value, used = result
    return 1.0 if Counter(used) == Counter(numbers) and value == target else 0.0
