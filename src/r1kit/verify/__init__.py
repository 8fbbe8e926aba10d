"""Is this answer right? The one place r1kit decides correctness (math, multiple choice, code, tasks).

The training reward, the in-training evaluation and `r1kit eval` all score through this package,
on the same extracted answer, so they can never disagree.

    verify_math("\\frac12", "0.5")                         # 1.0
    verify_math_batch([("1,234", "1234"), ("7", "8")])     # [1.0, 0.0]
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

__all__ = [
    "VerifierPool", "extract_math_answer", "get_pool", "normalize_answer", "shutdown_pool", "verifier_stats",
    "verify_math", "verify_math_batch",
]
