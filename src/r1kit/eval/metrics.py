"""Pure metric functions for the R1 evaluation protocol (DeepSeek-R1, arXiv 2501.12948, §3.1).

The protocol samples k responses per problem (T = 0.6, top-p 0.95) and reports
  pass@1  = mean over problems of the mean accuracy over the k samples, and
  cons@k  = accuracy of the majority-vote answer over the k samples (the report uses k = 64).
`summarize` turns per-problem sample records into those numbers plus diagnostics; `r1kit.eval.report`
renders them. Pure Python (no torch): answer equivalence is injected by the caller as `same`.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from math import comb, sqrt

SameFn = Callable[[list[tuple[str, str]]], list[bool]]
"""Batched equivalence check: pairs (representative, candidate) in, one verdict per pair out."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021, arXiv 2107.03374, eq. 1).

        pass@k = 1 - C(n - c, k) / C(n, k)          = 1.0 when n - c < k

    i.e. the probability that a size-k subset drawn without replacement from the n samples holds at
    least one correct one. Computed with exact integer binomials (math.comb) and one final rounding
    to float, so it is exact to float precision for any n; pass@1 = c / n.
    Raises ValueError unless 1 <= k <= n and 0 <= c <= n.
    """
    if n < 0 or c < 0 or k < 1 or k > n or c > n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def majority_vote(answers: list[str | None], same: SameFn) -> int | None:
    """Index into `answers` of the representative of the majority group, or None if nobody voted.

    Groups are equivalence classes under `same`, not raw strings ("1/2", "0.5" and "\\frac12" are one
    vote block when `same` says so). Greedy grouping, in sample order:
      1. None (unparsable) answers never vote.
      2. An exact string seen before joins that string's group; `same` is not called.
      3. A new distinct string is checked in ONE batched call `same([(rep_1, a), (rep_2, a), ...])`
         against every current group representative (a group's first member); it joins the first
         group whose verdict is True, else starts a new group with itself as representative.
    So `same` is called at most once per distinct string, never for the first one.
    Tie rule: among groups of equal (largest) size, the group whose first member appears earliest
    in `answers` wins.
    """
    reps: list[int] = []                # representative index of each group, in creation order
    sizes: list[int] = []
    group_of: dict[str, int] = {}       # exact string -> its group
    for i, a in enumerate(answers):
        if a is None:
            continue
        g = group_of.get(a)
        if g is None:
            if reps:
                pairs = [(answers[r], a) for r in reps]
                verdicts = same(pairs)
                if len(verdicts) != len(pairs):
                    raise ValueError(f"`same` returned {len(verdicts)} verdicts for {len(pairs)} pairs")
                g = next((j for j, ok in enumerate(verdicts) if ok), None)
            if g is None:
                g = len(reps)
                reps.append(i)
                sizes.append(0)
            group_of[a] = g
        sizes[g] += 1
    if not reps:
        return None
    # groups were created in order of their first member, so the smallest j wins a tie
    best = max(range(len(reps)), key=lambda j: (sizes[j], -j))
    return reps[best]


def cons_at_k(answers: list[str | None], correct: list[bool], same: SameFn) -> float:
    """cons@k for one problem: 1.0 if the majority-vote answer is correct, else 0.0 (0.0 if nobody voted).

    k = len(answers). Only the group representative's correctness is read (correct[idx]): every member
    of a group is equivalent to it under `same`, so with the same verifier the representative's
    verdict is the group's verdict.
    """
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} correctness flags")
    idx = majority_vote(answers, same)
    return 0.0 if idx is None else float(bool(correct[idx]))


@dataclass
class Stat:
    mean: float
    stderr: float
    """Standard error of the mean across problems: sample std (Bessel, n - 1) / sqrt(n); 0.0 if n < 2."""
    n: int
    """Number of values (problems) averaged."""


def mean_stderr(values: list[float]) -> Stat:
    """Mean and standard error of the mean of per-problem values.

        mean   = (1/n) sum_i x_i
        stderr = s / sqrt(n),   s^2 = (1/(n-1)) sum_i (x_i - mean)^2   (sample variance)
    stderr is 0.0 when n < 2. Raises ValueError on an empty list.
    """
    n = len(values)
    if n == 0:
        raise ValueError("mean_stderr of no values")
    mean = sum(values) / n
    if n < 2:
        return Stat(mean=mean, stderr=0.0, n=n)
    var = sum((x - mean) ** 2 for x in values) / (n - 1)
    return Stat(mean=mean, stderr=sqrt(var / n), n=n)


def summarize(per_problem: list[dict]) -> dict:
    """Benchmark summary from per-problem sample records; JSON-serialisable.

    per_problem[i] = {"correct": list[bool], "answers": list[str | None], "tokens": list[int | None],
                      "finish": list[str], "cons": float | None}, the four lists one entry per sample.
    Returns
      n_problems, samples_per_problem = {"min", "max"} over problems (equal unless ragged),
      pass@1    = mean_stderr of per-problem c_i / n_i,
      pass@k    = {"1": ..., "k": mean_stderr of pass_at_k(n_i, c_i, k)} for k = 1 .. min_i n_i,
      cons@k    = mean_stderr of the precomputed "cons" values (k = samples_per_problem), None if all None,
      truncation_rate      = share of all samples (pooled) with finish == "length",
      mean_response_tokens = mean of all non-None token counts (pooled), None if there are none,
      parse_failures       = number of None answers.
    Stats are {"mean", "stderr", "n"} dicts (see `mean_stderr`). A "cons" present for some problems and
    None for others is an error: cons@k would silently cover a subset.
    """
    if not per_problem:
        raise ValueError("summarize needs at least one problem")
    counts = []
    for i, p in enumerate(per_problem):
        k = len(p["correct"])
        if k == 0:
            raise ValueError(f"problem {i} has no samples")
        for key in ("answers", "tokens", "finish"):
            if len(p[key]) != k:
                raise ValueError(f"problem {i}: {len(p[key])} {key} but {k} samples")
        counts.append((k, sum(bool(x) for x in p["correct"])))
    k_min = min(n for n, _ in counts)
    pass_k = {str(k): asdict(mean_stderr([pass_at_k(n, c, k) for n, c in counts]))
              for k in range(1, k_min + 1)}

    cons = [p.get("cons") for p in per_problem]
    if all(x is None for x in cons):
        cons_stat = None
    elif any(x is None for x in cons):
        raise ValueError("cons is None for some problems and set for others")
    else:
        cons_stat = asdict(mean_stderr([float(x) for x in cons]))

    finish = [f for p in per_problem for f in p["finish"]]
    tokens = [t for p in per_problem for t in p["tokens"] if t is not None]
    return {
        "n_problems": len(per_problem),
        "samples_per_problem": {"min": k_min, "max": max(n for n, _ in counts)},
        "pass@1": asdict(mean_stderr([c / n for n, c in counts])),
        "pass@k": pass_k,
        "cons@k": cons_stat,
        "truncation_rate": sum(f == "length" for f in finish) / len(finish),
        "mean_response_tokens": sum(tokens) / len(tokens) if tokens else None,
        "parse_failures": sum(a is None for p in per_problem for a in p["answers"]),
    }
