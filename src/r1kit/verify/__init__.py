"""Is this answer right? The one place r1kit decides correctness (math, multiple choice, code, tasks).

    verdicts = score(task, completions, examples, think_open=False)   # [Verdict(answer, score), ...]
    equivalent("math", [("\\frac12", "0.5")])                        # [True]  (cons@k voting)
    verify_math("\\frac12", "0.5")                                    # 1.0

The training reward, the in-training evaluation and `r1kit eval` all score through `score`, on the
same extracted answer, so they can never disagree. A `Task` (r1kit.data) names its `scorer`:
"math" (verify.math), "choice" (verify.choice), "code" (verify.code), "arithmetic" and
"countdown" (verify.tasks). See verify/scoring.py for the steps.
"""

from r1kit.verify.math import (
    extract_math_answer,
    get_pool,
    normalize_answer,
    shutdown_pool,
    verifier_stats,
    verify_math,
    verify_math_batch,
)
from r1kit.verify.math_pool import VerifierPool
from r1kit.verify.scoring import CHECKS, Verdict, equivalent, final_answer, score

SCORERS = tuple(CHECKS)

__all__ = [
    "SCORERS", "Verdict", "VerifierPool", "equivalent", "extract_math_answer", "final_answer", "get_pool",
    "normalize_answer", "score", "shutdown_pool", "verifier_stats", "verify_math", "verify_math_batch",
]
