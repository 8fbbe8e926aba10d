"""The task contract: `Example` rows and the `Task` base class every task implements.

A task owns three things: how to make (or load) examples, how to split them into train/test, and
how to score an extracted answer. Rewards and evaluation both call `Task.verify`, so training and
evaluation can never disagree about what "correct" means (the nanochat rule).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable, Hashable


@dataclass(frozen=True)
class Example:
    """One problem. `answer` is the gold answer as a string; `meta` holds task-specific fields."""

    id: str
    problem: str
    answer: str
    meta: dict = field(default_factory=dict, hash=False)  # dicts are unhashable: keep Example hashable


class Task:
    """Base class for tasks. Subclasses set `name` and implement `examples` and `verify`."""

    name: str = "task"

    def examples(self, split: str = "train", n: int | None = None) -> list[Example]:
        """`n` examples of `split` ("train" or "test"), deterministic, the two splits disjoint."""
        raise NotImplementedError

    def verify(self, answer: str | None, example: Example) -> float:
        """1.0 if the extracted `answer` is correct for `example`, else 0.0. Never raises."""
        raise NotImplementedError

    def verify_batch(self, answers: list[str | None], examples: list[Example]) -> list[float]:
        """`verify` over a batch; tasks with an expensive checker override this to run in parallel."""
        return [self.verify(a, ex) for a, ex in zip(answers, examples)]


def split_of(key: str, test_fraction: float = 0.1) -> str:
    """Assign a problem to "train" or "test" by a hash of its canonical key.

    The assignment depends on the problem alone (not the seed or the sample size), so a test
    problem is never a train problem, whatever seed or `n` either side uses.
    """
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64
    return "test" if h < test_fraction else "train"


def check_split(split: str) -> None:
    from r1kit.errors import R1kitError

    if split not in ("train", "test"):
        raise R1kitError(f"unknown split {split!r}: use 'train' or 'test'")


def sample_distinct(
    rng: random.Random,
    draw: Callable[[random.Random], tuple[Hashable, object]],
    split: str,
    n: int,
    test_fraction: float,
    patience: int = 5000,
) -> list[object]:
    """Draw `n` distinct problems of `split` by rejection sampling.

    `draw(rng)` returns (canonical key, problem). Keys from the other split and duplicates are
    rejected. When the space of distinct problems runs out (`patience` rejections in a row, only
    possible for tiny spaces such as 1-digit addition) the found problems repeat in order.
    """
    found, seen, misses = [], set(), 0
    while len(found) < n and misses < patience:
        key, problem = draw(rng)
        if key in seen or split_of(repr(key), test_fraction) != split:
            misses += 1
            continue
        seen.add(key)
        found.append(problem)
        misses = 0
    if not found:
        from r1kit.errors import R1kitError

        raise R1kitError(f"no {split} problems exist for these task settings")
    return [found[i % len(found)] for i in range(n)]
