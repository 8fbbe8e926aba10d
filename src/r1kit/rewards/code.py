"""The code reward: run the completion's program against the problem's tests in the sandbox.

    code_reward("<think>…</think>```python\\ndef add(a, b):\\n    return a + b\\n```",
                Example("x", "Write add.", "", meta={"tests": "assert add(1, 2) == 3"}), ctx)   # 1.0

Program extraction, the tests and the sandbox runs are r1kit.verify.code's, the same path
`verify.score` takes for a code task (so "correct" here is "correct" in eval: mode "all", every test
passes). mode "fraction" (the default) scores passed / total tests instead, a shaping option for
training. The program is taken from the final part after the reasoning; a reasoning block left
open (`ctx.think_open` for a prompt that opened it) has no program: 0.0. If the sandbox is
unavailable the reward refuses to start (a one-line error from `check_rewards`) unless
`unsafe_local: true` runs programs as plain processes.
"""

from __future__ import annotations

from r1kit.data.templates import split_reasoning
from r1kit.verify.code import MODES, extract_code, get_sandbox, run_tests

__all__ = ["code_preflight", "code_reward", "code_rewards", "extract_code"]


def code_preflight(options: dict) -> None:
    """Check the options and start (and self-test) the sandbox before a run begins, so a bad mode
    or a missing bwrap is a clear one-line error rather than a run of skipped rewards."""
    from r1kit.errors import R1kitError

    if options.get("mode", "fraction") not in MODES:
        raise R1kitError(f"code reward mode must be 'fraction' or 'all', got {options['mode']!r}")
    if not options.get("timeout", 10.0) > 0:
        raise R1kitError(f"code reward timeout must be > 0 seconds, got {options['timeout']!r}")
    get_sandbox(bool(options.get("unsafe_local", False)))


def code_reward(completion: str, example, ctx=None, *, mode: str = "fraction", timeout: float = 10.0,
                memory_mb: int = 1024, fallback_raw: bool = True, unsafe_local: bool = False) -> float | None:
    """Fraction (or all-or-nothing) of `example`'s tests the completion's program passes (module docstring)."""
    return code_rewards([completion], [example], [ctx], mode=mode, timeout=timeout, memory_mb=memory_mb,
                        fallback_raw=fallback_raw, unsafe_local=unsafe_local)[0]


def code_rewards(completions: list[str], examples: list, contexts: list | None = None, *, mode: str = "fraction",
                 timeout: float = 10.0, memory_mb: int = 1024, fallback_raw: bool = True,
                 unsafe_local: bool = False) -> list[float | None]:
    """`code_reward` over a batch: every program and test runs in parallel sandboxes. Never raises."""
    contexts = contexts or [None] * len(completions)
    programs = []
    for completion, ctx in zip(completions, contexts):
        _, final = split_reasoning(completion, bool(getattr(ctx, "think_open", False)))
        programs.append(extract_code(final, fallback_raw) if final is not None else None)
    return run_tests(programs, examples, mode=mode, timeout=timeout, memory_mb=memory_mb, unsafe_local=unsafe_local)
