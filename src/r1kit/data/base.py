"""The task contract: `Example` rows and the `Task` base class every task implements.

A task owns two things: how to make (or load) examples, and how to split them into train/test. It
names its `scorer` ("math", "choice", "code", "arithmetic", "countdown") but does not score: whether
an answer is right is decided by `r1kit.verify.score(task, completions, examples)`, the one function
the training reward, the in-training evaluation and `r1kit eval` all call, so they cannot disagree.
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


SCORERS = ("math", "choice", "code", "arithmetic", "countdown")  # the checks r1kit.verify implements


class Task:
    """Base class for tasks. Subclasses set `name` and `scorer` and implement `examples`."""

    name: str = "task"
    scorer: str = "math"  # which r1kit.verify check decides correctness (one of SCORERS)

    def examples(self, split: str = "train", n: int | None = None) -> list[Example]:
        """`n` examples of `split` ("train" or "test"), deterministic, the two splits disjoint."""
        raise NotImplementedError


def split_of(key: str, test_fraction: float = 0.1) -> str:
    """Assign a problem to "train" or "test" by a hash of its canonical key.

    The assignment depends on the problem alone (not the seed or the sample size), so a test
    problem is never a train problem, whatever seed or `n` either side uses.
    """
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64
    return "test" if h < test_fraction else "train"


def problem_key(problem: str) -> str:
    """The text a problem is split and deduplicated by: lower-cased, whitespace runs made one space."""
    return " ".join(str(problem).lower().split())


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
