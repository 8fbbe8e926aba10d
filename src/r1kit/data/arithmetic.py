"""Multi-digit arithmetic (+, -, *): the toy task of r1kit's R1-Zero demo.

Problems read "What is 12345 + 67890?" and the gold answer is the integer as a string.
`solution()` writes a completion in the R1-Zero tag format, either a direct answer with empty
reasoning or a worked per-digit trace; mixing the two makes a base model that *can* reason but
mostly doesn't, which is the starting point RL needs to show the R1-Zero effect (a prototype on a 2-core
CPU went from ~17% to 78-88% held-out pass@1 over three seeds this way).

Trace formats (one line per digit, right to left; each digit is one token in r1kit tokenizers):
    +  "4+9+0=13"   digit + digit + carry-in = column sum, two digits ("4+5+0=09"); tens = next carry
    -  "12-7-0=5"   a leading 1 marks a borrowed ten; the last term is the borrow-in
    *  "12345*9=111105" per digit of b, then the shifted partial products summed

Worded traces (`language=`, for the language-mixing experiment of issue 10): the same lines, each
prefixed by a word, under a header in English ("column by column:", "add 4+9+0=13") or Chinese
("逐位 计算 如下:", "加 4+9+0=13"), or both mixed line by line. `summary=True` adds the cold-start form's
readable summary after </think> (" so the sum is 80235."), DeepSeek-R1 §2.3.1.
"""

from __future__ import annotations

import random

from r1kit.data.base import Example, Task, check_split, sample_distinct
from r1kit.errors import R1kitError

STEPS_HEADER = "column by column:"
LANGUAGES = ("en", "zh", "mixed")
# The zh header is three tokens like the en one ("column", " by", " column"), so every digit sits at the same
# absolute position in either language: with a one-token zh header the GPT-2 base (learned positions) got 35%
# of its worked 5-digit sums right instead of 90% (issue 10 measurement, demo sizes).
HEADERS = {"en": STEPS_HEADER, "zh": "逐位 计算 如下:"}
# One word per step kind; "sum" is the last line of a long multiplication (the partial products added).
# r1kit.models.corpus.bilingual_lines makes each a single token; a fixed one-token prefix keeps every
# digit at the same offset within its line, whatever the language.
STEP_WORDS = {"en": {"+": "add", "-": "sub", "*": "mul", "sum": "sum"},
              "zh": {"+": "加", "-": "减", "*": "乘", "sum": "和"}}
SUMMARY_NOUNS = {"+": "sum", "-": "difference", "*": "product"}

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "x": "*"}


class ArithmeticTask(Task):
    """`digits`-digit operands, one operator. Subtraction puts the larger operand first (no negatives)."""

    name = "arithmetic"
    scorer = "arithmetic"  # integer comparison (r1kit.verify.tasks.check_integer)

    def __init__(self, digits: int = 5, op: str = "+", seed: int = 0, test_fraction: float = 0.1):
        if op not in _OPS or not 1 <= digits <= 30:
            raise R1kitError(f"bad arithmetic settings: op={op!r} (use + - *), digits={digits} (1-30)")
        self.digits, self.op, self.seed, self.test_fraction = digits, _OPS[op], seed, test_fraction

    def examples(self, split: str = "train", n: int | None = 1000) -> list[Example]:
        check_split(split)
        rng = random.Random(f"r1kit-arith-{self.seed}-{split}-{self.digits}-{self.op}")
        pairs = sample_distinct(rng, self._draw, split, n or 1000, self.test_fraction)
        return [self._example(f"arith-{split}-{i:05d}", a, b) for i, (a, b) in enumerate(pairs)]

    def _draw(self, rng: random.Random):
        lo, hi = 10 ** (self.digits - 1), 10**self.digits - 1
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if self.op == "-" and a < b:
            a, b = b, a
        # The key is the unordered pair, so 12+34 and 34+12 land in the same split.
        return (self.op, min(a, b), max(a, b)), (a, b)

    def _example(self, id_: str, a: int, b: int) -> Example:
        answer = {"+": a + b, "-": a - b, "*": a * b}[self.op]
        return Example(id_, f"What is {a} {self.op} {b}?", str(answer), {"a": a, "b": b, "op": self.op})

    def solution(self, example: Example, show_steps: bool = False, language: str | None = None,
                 summary: bool = False) -> str:
        """The completion that follows the R1-Zero prompt ("... Assistant:"), in tag format.

        show_steps=False: " <think>\\n</think> <answer>80235</answer>" (empty reasoning; `language` ignored).
        show_steps=True:  STEPS_HEADER and the per-digit trace inside <think> before the same answer.
        language: None = the trace above, no words; "en" / "zh" = header and a word before each line in
            that language ("add 4+9+0=13", "加 4+9+0=13"); "mixed" = each line's language drawn at random,
            seeded by example.id (`line_languages`).
        summary: " so the sum is 80235." between </think> and <answer> (the readable summary).
        """
        if language is not None and language not in LANGUAGES:
            raise R1kitError(f"unknown trace language {language!r} (use {', '.join(LANGUAGES)})")
        a, b, op = example.meta["a"], example.meta["b"], example.meta["op"]
        steps = {"+": add_steps, "-": sub_steps, "*": mul_steps}[op](a, b) if show_steps else []
        # The worked form opens with a fixed header, so "reason or answer directly" is decided at
        # one token; without it the choice hides in the spread over the first digit, and sampling
        # at T = 0.6 almost never picks the worked form even when the model does 30% of the time.
        if steps and language is not None:
            lines = worded_lines(steps, op, line_languages(len(steps), language, example.id))
        else:
            lines = [STEPS_HEADER] + steps if steps else []
        body = "".join(line + "\n" for line in lines)
        tail = f" so the {SUMMARY_NOUNS[op]} is {example.answer}." if summary else ""
        return f" <think>\n{body}</think>{tail} <answer>{example.answer}</answer>"


def line_languages(n_steps: int, language: str, key: str) -> list[str]:
    """The language ("en"/"zh") of the header and of each of `n_steps` lines: n_steps + 1 entries.

    "mixed" draws each at random from a generator seeded by `key` (the same example, the same text);
    should every draw agree, one step line is flipped, so a mixed trace always has both languages.
    """
    if language != "mixed":
        return [language] * (n_steps + 1)
    rng = random.Random(f"r1kit-mixed-{key}")
    langs = [rng.choice(("en", "zh")) for _ in range(n_steps + 1)]
    if len(set(langs)) == 1 and n_steps:
        i = rng.randrange(1, n_steps + 1)
        langs[i] = "zh" if langs[i] == "en" else "en"
    return langs


def worded_lines(steps: list[str], op: str, langs: list[str]) -> list[str]:
    """Header and `steps` with a word before each line: langs[0] for the header, langs[i + 1] for
    steps[i]. A multiplication's last line (the partial products summed) takes the "sum" word."""
    kinds = [op] * len(steps)
    if op == "*":
        kinds[-1] = "sum"
    words = [STEP_WORDS[lang][kind] for lang, kind in zip(langs[1:], kinds)]
    return [HEADERS[langs[0]]] + [f"{word} {step}" for word, step in zip(words, steps)]


def _columns(a: int, b: int) -> list[tuple[int, int]]:
    """Digit pairs of a and b, least significant first, the shorter one padded with 0."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    width = max(len(xs), len(ys))
    return [(int(xs[i]) if i < len(xs) else 0, int(ys[i]) if i < len(ys) else 0) for i in range(width)]


def add_steps(a: int, b: int) -> list[str]:
    """Column addition, right to left: "x+y+carry=sum", the sum always two digits ("4+5+0=09"); the
    tens digit is the next carry. Fixed-width lines put every digit the model must look up at a
    fixed offset, which a tiny model learns several times sooner than variable-width lines."""
    lines, carry = [], 0
    for x, y in _columns(a, b):
        total = x + y + carry
        lines.append(f"{x}+{y}+{carry}={total:02d}")
        carry = total // 10
    return lines


def sub_steps(a: int, b: int) -> list[str]:
    """Column subtraction (a >= b), right to left: "x-y-borrow=d", written "1x-..." when borrowing."""
    lines, borrow = [], 0
    for x, y in _columns(a, b):
        d = x - y - borrow
        lines.append(f"{'1' if d < 0 else ''}{x}-{y}-{borrow}={d % 10}")
        borrow = 1 if d < 0 else 0
    return lines


def mul_steps(a: int, b: int) -> list[str]:
    """Long multiplication: a times each digit of b (right to left), then the shifted sum."""
    digits = [int(d) for d in str(b)[::-1]]
    lines = [f"{a}*{d}={a * d}" for d in digits]
    partials = [f"{a * d}{'0' * i}" for i, d in enumerate(digits)]
    lines.append(f"{'+'.join(partials)}={a * b}")
    return lines
