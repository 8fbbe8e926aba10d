"""Countdown: combine the given numbers with + - * / to hit a target (TinyZero's R1-Zero task).

Puzzles are built backwards: draw `n_numbers` numbers, fold them together with random operations
(keeping every intermediate a non-negative integer, as in the game), and call the result the
target, so every puzzle has at least one solution that uses each number exactly once. The problem
text is the Countdown-Tasks-3to4 phrasing used by TinyZero.

Scoring (r1kit.verify.tasks.check_countdown) follows TinyZero's rule: the answer equation must use
each given number exactly once (as a multiset) and evaluate exactly to the target.
"""

from __future__ import annotations

import random

from r1kit.data.base import Example, Task, check_split, sample_distinct
from r1kit.errors import R1kitError

PROBLEM = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic "
    "arithmetic operations (+, -, *, /) and each number can only be used once."
)


class CountdownTask(Task):
    """Countdown puzzles with `n_numbers` numbers in [min_number, max_number], targets in [1, max_target]."""

    name = "countdown"
    scorer = "countdown"  # the equation check (r1kit.verify.tasks.check_countdown)

    def __init__(
        self,
        n_numbers: int = 4,
        seed: int = 0,
        min_number: int = 1,
        max_number: int = 99,
        max_target: int = 999,
        test_fraction: float = 0.1,
    ):
        if not 2 <= n_numbers <= 6 or not 1 <= min_number <= max_number or max_target < 1:
            raise R1kitError(f"bad countdown settings: n_numbers={n_numbers} (2-6), numbers "
                             f"[{min_number}, {max_number}], max_target={max_target}")
        self.n_numbers, self.seed, self.test_fraction = n_numbers, seed, test_fraction
        self.min_number, self.max_number, self.max_target = min_number, max_number, max_target

    def examples(self, split: str = "train", n: int | None = 1000) -> list[Example]:
        check_split(split)
        rng = random.Random(f"r1kit-countdown-{self.seed}-{split}-{self.n_numbers}")
        puzzles = sample_distinct(rng, self._draw, split, n or 1000, self.test_fraction)
        return [
            Example(
                id=f"countdown-{split}-{i:05d}",
                problem=PROBLEM.format(numbers=list(nums), target=target),
                answer=f"{expr} = {target}",
                meta={"numbers": list(nums), "target": target},
            )
            for i, (nums, target, expr) in enumerate(puzzles)
        ]

    def _draw(self, rng: random.Random):
        while True:
            nums = [rng.randint(self.min_number, self.max_number) for _ in range(self.n_numbers)]
            made = _fold(rng, nums)
            if made is not None and 1 <= made[0] <= self.max_target:
                # The key ignores number order: [3, 5] -> 8 and [5, 3] -> 8 are one puzzle.
                return (tuple(sorted(nums)), made[0]), (nums, made[0], made[1])


def _fold(rng: random.Random, nums: list[int]) -> tuple[int, str] | None:
    """Combine all `nums` into one value with random + - * /; None if a step is not allowed."""
    items = [(v, str(v)) for v in nums]
    while len(items) > 1:
        (x, ex), (y, ey) = items.pop(rng.randrange(len(items))), items.pop(rng.randrange(len(items)))
        op = rng.choice("+-*/")
        if op == "-" and x < y:
            (x, ex), (y, ey) = (y, ey), (x, ex)  # game rule: no negative intermediates
        if op == "/" and (y == 0 or x % y):
            return None  # game rule: exact division only
        value = {"+": x + y, "-": x - y, "*": x * y, "/": x // y if y else 0}[op]
        items.append((value, f"({ex} {op} {ey})"))
    value, expr = items[0]
    return value, expr[1:-1] if expr.startswith("(") else expr
