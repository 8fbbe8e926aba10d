"""Programs: take the program out of a completion and run it against a problem's tests in the sandbox.

    extract_code("<think>…</think>```python\\ndef add(a, b):\\n    return a + b\\n```")   # "def add(a, b): ..."
    run_tests(["def add(a, b):\\n    return a + b"],
              [Example("x", "Write add.", "", meta={"tests": "assert add(1, 2) == 3"})])   # [1.0]

The program is the last complete fenced block (```…```) after the reasoning; with no fence at all
the text itself is taken as the program (`fallback_raw`). A problem's tests, in `example.meta`:

* `tests: str` — assert-style test code (HumanEval's `check(f)`, MBPP's asserts), run after the
  program (`prefix + program + tests`; HumanEval sets `prefix` to its prompt). Each `assert`
  statement is scored on its own by `code_harness.py` inside the sandbox.
* `tests: list[{"input": str, "output": str}]` — stdin/stdout tests, one sandboxed run each; a test
  passes when the run exits 0 and its stdout equals `output` up to trailing whitespace per line.

"Correct" is mode "all": 1.0 only when every test passes (what pass@1 counts). Mode "fraction",
passed / total tests, is a shaping option of the code reward. No program scores 0.0; a problem
without usable tests scores None (skipped). Runs happen in the bubblewrap sandbox (r1kit.sandbox);
`unsafe_local=True` runs programs as plain processes (an explicit opt-in of the code reward).
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import threading
from pathlib import Path

from r1kit.data.templates import THINK_CLOSE

log = logging.getLogger(__name__)

FENCE = "```"
HARNESS = Path(__file__).with_name("code_harness.py")
MAX_PROGRAM_CHARS = 100_000  # no honest solution to a benchmark problem is longer
MODES = ("fraction", "all")

_sandboxes: dict[bool, object] = {}
_sandbox_lock = threading.Lock()


def extract_code(text: str | None, fallback_raw: bool = True) -> str | None:
    """The body of the last complete ```fenced``` block after the reasoning (language tag dropped).

    With no fence at all and `fallback_raw`, the stripped text itself (None if empty). A fence
    left open (a truncated completion) is not a program: the last *complete* block is used.
    """
    if not isinstance(text, str):
        return None
    cut = text.rfind(THINK_CLOSE)
    if cut != -1:
        text = text[cut + len(THINK_CLOSE):]
    fences, i = [], text.find(FENCE)
    while i != -1:
        fences.append(i)
        i = text.find(FENCE, i + len(FENCE))
    if len(fences) < 2:
        return (text.strip() or None) if fallback_raw and not fences else None
    opener, closer = fences[(len(fences) // 2) * 2 - 2], fences[(len(fences) // 2) * 2 - 1]
    line_end = text.find("\n", opener)
    if line_end == -1 or line_end > closer:
        return None
    return text[line_end + 1:closer].strip("\n") or None


def get_sandbox(unsafe_local: bool = False):
    """The process-wide sandbox (started and self-tested on first use); raises SandboxUnavailable."""
    from r1kit.sandbox import Sandbox

    with _sandbox_lock:
        if unsafe_local not in _sandboxes:
            _sandboxes[unsafe_local] = Sandbox(workers=_workers(), unsafe_local=unsafe_local)
        return _sandboxes[unsafe_local]


def _workers() -> int:
    import os

    return max(1, min(8, os.cpu_count() or 1))


@functools.cache
def _harness_source() -> str:
    return HARNESS.read_text()


def run_tests(programs: list[str | None], examples: list, *, mode: str = "all", timeout: float = 10.0,
              memory_mb: int = 1024, unsafe_local: bool = False) -> list[float | None]:
    """Score each program on its example's tests (module docstring); all runs in parallel sandboxes.

    Never raises: a sandbox failure skips the batch (None for every sample) rather than score it wrong.
    """
    try:
        from r1kit.sandbox import Limits

        limits = Limits(wall_s=timeout, cpu_s=max(1, math.ceil(timeout)), memory_mb=memory_mb)
        plans = [_plan(p, ex) for p, ex in zip(programs, examples)]
        jobs = [{"code": job["code"], "files": job.get("files"), "stdin": job["stdin"], "limits": limits}
                for plan in plans if isinstance(plan, list) for job in plan]
        results = iter(get_sandbox(unsafe_local).run_many(jobs) if jobs else [])
        return [plan if not isinstance(plan, list) else _score(plan, [next(results) for _ in plan], mode)
                for plan in plans]
    except Exception:  # sandbox gone, a bug: skip the batch rather than score it wrong
        log.exception("running programs failed; skipping %d samples", len(programs))
        return [None] * len(programs)


def _plan(program: str | None, example) -> float | None | list[dict]:
    """The sandbox jobs for one sample, or its score when no run is needed (0.0 / None)."""
    meta = getattr(example, "meta", None) or {}
    tests = meta.get("tests")
    if not _usable_tests(tests):
        return None
    if not isinstance(program, str) or not program or len(program) > MAX_PROGRAM_CHARS:
        return 0.0
    if isinstance(tests, str):
        nonce = secrets.token_hex(16)
        files = {"solution.py": str(meta.get("prefix") or "") + program + "\n", "tests.py": tests}
        return [{"code": _harness_source(), "files": files, "stdin": nonce + "\n", "nonce": nonce}]
    return [{"code": program, "stdin": str(t["input"]), "expected": str(t["output"])} for t in tests]


def _usable_tests(tests) -> bool:
    if isinstance(tests, str):
        return bool(tests.strip())
    return (isinstance(tests, list) and bool(tests)
            and all(isinstance(t, dict) and "input" in t and "output" in t for t in tests))


def _score(jobs: list[dict], results: list, mode: str) -> float:
    if "nonce" in jobs[0]:
        passed, total, clean = _harness_line(results[0].stdout, jobs[0]["nonce"])
        if mode == "all":
            return float(clean and total > 0 and passed == total)
        return passed / total if total else float(clean)
    ok = [r.status == "ok" and _same_output(r.stdout, job["expected"]) for job, r in zip(jobs, results)]
    return float(all(ok)) if mode == "all" else sum(ok) / len(ok)


def _harness_line(stdout: str, nonce: str) -> tuple[int, int, bool]:
    """(passed, total, clean) from the harness's result line; (0, 0, False) when there is none."""
    for line in reversed(stdout.splitlines()):
        parts = line.split()
        if len(parts) == 4 and parts[0] == nonce and all(p.isdigit() for p in parts[1:]):
            return int(parts[1]), int(parts[2]), parts[3] == "1"
    return 0, 0, False


def _same_output(got: str, expected: str) -> bool:
    norm = lambda s: "\n".join(line.rstrip() for line in s.rstrip().splitlines())  # noqa: E731
    return norm(got) == norm(expected)
