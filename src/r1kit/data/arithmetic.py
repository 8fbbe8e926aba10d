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
"""

from __future__ import annotations

import random

from r1kit.data.base import Example, Task, check_split, sample_distinct
from r1kit.errors import R1kitError

STEPS_HEADER = "column by column:"

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

    def solution(self, example: Example, show_steps: bool = False) -> str:
        """The completion that follows the R1-Zero prompt ("... Assistant:"), in tag format.

        show_steps=False: " <think>\\n</think> <answer>80235</answer>" (empty reasoning).
        show_steps=True:  STEPS_HEADER and the per-digit trace inside <think> before the same answer.
        """
        a, b, op = example.meta["a"], example.meta["b"], example.meta["op"]
        steps = {"+": add_steps, "-": sub_steps, "*": mul_steps}[op](a, b) if show_steps else []
        # The worked form opens with a fixed header, so "reason or answer directly" is decided at
        # one token; without it the choice hides in the spread over the first digit, and sampling
        # at T = 0.6 almost never picks the worked form even when the model does 30% of the time.
        body = "".join(line + "\n" for line in ([STEPS_HEADER] + steps if steps else []))
        return f" <think>\n{body}</think> <answer>{example.answer}</answer>"


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
