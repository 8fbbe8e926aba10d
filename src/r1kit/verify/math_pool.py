"""A pool of worker processes that run Math-Verify under a hard per-check deadline.

Why processes: Math-Verify's own timeout uses SIGALRM, which fails or silently misbehaves outside
the main thread (verl shipped all-zero scores from it), and sympy can hang on inputs such as
2^{2^{2^{2^{2^{2}}}}} (measured: no answer in 20 s). So the workers run Math-Verify with its
timeouts off and the parent enforces the deadline: a worker that overruns is killed (SIGKILL),
replaced, and its check scores 0.0 and counts as a timeout.

    pool = VerifierPool(workers=2, timeout=5.0)
    pool.check_batch([("\\frac{1}{2}", "0.5")])    # [1.0]
    pool.close()

Each worker is a fresh interpreter (`python -c ...`, talking over two pipes) that imports
Math-Verify once, so a check costs a pipe round trip, not an import. Not multiprocessing's
"spawn"/"forkserver": those re-run the parent's __main__ script in the child, so a training
script without an `if __name__ == "__main__":` guard made every worker fail to start and every
math reward 0.0 (measured). A fresh interpreter inherits no locks, threads or CUDA state either.
POSIX only (pipes passed by file descriptor).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait

log = logging.getLogger(__name__)


@dataclass
class VerifierStats:
    """Counters since the pool started (read them with `pool.stats.as_dict()`)."""

    checks: int = 0  # checks sent to a worker
    timeouts: int = 0  # checks that overran the deadline (worker killed, scored 0.0)
    errors: int = 0  # workers that died or failed to start (check scored 0.0)
    restarts: int = 0  # workers started to replace a killed or dead one

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Worker:
    """One worker process and the two pipe ends the parent keeps."""

    def __init__(self, memory_mb: int):
        to_parent_r, to_parent_w = os.pipe()
        to_child_r, to_child_w = os.pipe()
        # The kernel's parent-death signal is tied to the creating *thread*: use it only from the
        # main thread, which lives as long as the process (other threads rely on the watchdog).
        pdeathsig = threading.current_thread() is threading.main_thread()
        code = (f"from r1kit.verify.math_pool import worker_main; "
                f"worker_main({to_child_r}, {to_parent_w}, {memory_mb}, {pdeathsig})")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=(to_child_r, to_parent_w), env=_child_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # stderr stays visible for crashes
            )
        except BaseException:
            for fd in (to_parent_r, to_child_w):
                os.close(fd)
            raise
        finally:
            os.close(to_child_r)
            os.close(to_parent_w)  # so a dead worker shows up as EOF on our end
        self.conn = Connection(to_parent_r, writable=False)
        self.out = Connection(to_child_w, readable=False)
        self.started = time.monotonic()
        self.ready = False
        self.job: int | None = None  # index of the pair being checked
        self.deadline = 0.0

    def kill(self) -> None:
        for step in (self.proc.kill, lambda: self.proc.wait(timeout=5), self.conn.close, self.out.close):
            try:
                step()
            except Exception:  # already gone / already closed
                pass


def _child_env() -> dict[str, str]:
    """The parent's environment, with r1kit's source root first on PYTHONPATH (uninstalled checkouts)."""
    import r1kit

    root = os.path.dirname(os.path.dirname(os.path.abspath(r1kit.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class VerifierPool:
    """`workers` Math-Verify processes; `check_batch` scores (pred, gold) pairs in parallel."""

    def __init__(self, workers: int = 2, timeout: float = 5.0, start_timeout: float = 60.0, memory_mb: int = 4096):
        self.timeout, self.start_timeout, self.memory_mb = timeout, start_timeout, memory_mb
        self.stats = VerifierStats()
        self._lock = threading.Lock()  # one batch at a time; callers may be threads (serving)
        self.owner_pid = os.getpid()  # a forked child must not drive its parent's workers
        self._failed_starts = 0
        self._workers = [_Worker(memory_mb) for _ in range(max(1, workers))]
        self.closed = False

    def check_batch(self, pairs: list[tuple[str, str]], timeout: float | None = None) -> list[float | None]:
        """Score each (pred, gold) pair: 1.0 equal, 0.0 not equal / timed out / failed, None for an
        unparsable gold (see `math_check`). Never raises."""
        results = [0.0] * len(pairs)
        if not pairs or self.closed or os.getpid() != self.owner_pid:
            return results
        try:
            with self._lock:
                self._run(pairs, results, self.timeout if timeout is None else timeout)
        except Exception:  # a bug here must cost a reward, never the training run
            log.exception("math verifier pool failed; scoring the rest 0.0")
        return results

    def _run(self, pairs, results, timeout: float) -> None:
        pending = list(range(len(pairs)))[::-1]  # pop() takes them in order
        while pending or any(w.job is not None for w in self._workers):
            if self._failed_starts >= 3:
                log.error("math verifier workers fail to start; scoring %d checks 0.0", len(pending))
                return
            for w in list(self._workers):
                if w.ready and w.job is None and pending:
                    self._dispatch(w, pending, pairs, timeout, results)
            self._wait_and_collect(results)
            self._reap_overdue(results)

    def _dispatch(self, w: _Worker, pending: list[int], pairs, timeout: float, results) -> None:
        job = pending.pop()
        try:
            w.out.send((job, *pairs[job]))
        except (OSError, ValueError):  # the worker died while idle: requeue, replace it
            pending.append(job)
            self._replace(w, results, timeout_hit=False)
            return
        w.job, w.deadline = job, time.monotonic() + timeout
        self.stats.checks += 1

    def _wait_and_collect(self, results) -> None:
        # Sleep until a message arrives or the earliest deadline of a busy or starting worker.
        limits = [w.started + self.start_timeout for w in self._workers if not w.ready]
        limits += [w.deadline for w in self._workers if w.job is not None]
        if not limits:
            return
        timeout = max(0.0, min(limits) - time.monotonic())
        for conn in wait([w.conn for w in self._workers], timeout=timeout):
            w = next(w for w in self._workers if w.conn is conn)
            try:
                tag, value = conn.recv()
            except (EOFError, OSError):  # the worker died (e.g. out of memory)
                self._replace(w, results, timeout_hit=False)
                continue
            if tag == "ready":
                w.ready, self._failed_starts = True, 0
            elif tag == w.job:
                results[w.job], w.job = value, None

    def _reap_overdue(self, results) -> None:
        now = time.monotonic()
        for w in list(self._workers):
            if w.job is not None and now > w.deadline:
                self._replace(w, results, timeout_hit=True)
            elif not w.ready and now > w.started + self.start_timeout:
                self._replace(w, results, timeout_hit=False)

    def _replace(self, w: _Worker, results, timeout_hit: bool) -> None:
        if w.job is not None:
            results[w.job] = 0.0
        if timeout_hit:
            self.stats.timeouts += 1
        else:
            self.stats.errors += 1
            self._failed_starts += 0 if w.ready else 1
        w.kill()
        self._workers[self._workers.index(w)] = _Worker(self.memory_mb)
        self.stats.restarts += 1

    def close(self) -> None:
        """Stop the workers. Idempotent; later checks score 0.0."""
        self.closed = True
        if os.getpid() != self.owner_pid:
            return
        for w in self._workers:
            w.kill()

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def worker_main(read_fd: int, write_fd: int, memory_mb: int, pdeathsig: bool = False) -> None:
    """Worker loop: receive (job, pred, gold), send (job, score). Runs in its own interpreter."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent = os.getppid()
    if pdeathsig:
        _kill_me_with_parent()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    _limit_memory(memory_mb)
    logging.disable(logging.WARNING)  # Math-Verify warns about the timeouts we turn off on purpose
    math_check("1", "1")  # import Math-Verify and warm sympy before reporting ready
    outbox.send(("ready", None))
    while True:
        try:
            job, pred, gold = inbox.recv()
        except (EOFError, OSError):  # the parent went away
            return
        outbox.send((job, math_check(pred, gold)))


def _kill_me_with_parent() -> None:
    """Linux: have the kernel SIGKILL this worker when its parent dies. A check stuck in C code
    (sympy on a huge integer power) holds the GIL, so no Python-level watchdog could run."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # not Linux: the watchdog thread below is the fallback
        pass


def _exit_with_parent(parent_pid: int) -> None:
    """Exit once the parent is gone (the pipe's EOF is never read while a check runs)."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _limit_memory(memory_mb: int) -> None:
    """Cap the worker's address space so a runaway sympy expansion fails (MemoryError), not the host."""
    try:
        import resource

        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except Exception:  # not on this platform: rely on the deadline alone
        pass


FREE_TEXT = "[free text] "  # prefix of a completion tail that Math-Verify's own extraction reads (math.py)
# Prose in an answer: a unit after a number ("18 dollars") or two words in a row ("the largest n is").
# Not LaTeX commands (\frac), nor function names and connectives written plainly (sin x, 2 and 3).
_NOT_PROSE = r"(?:sin|cos|tan|cot|sec|csc|log|ln|exp|max|min|gcd|lcm|mod|deg|arc[a-z]+|sqrt|pi|and|or)(?![A-Za-z])"
_PROSE = re.compile(rf"\d\s*(?!{_NOT_PROSE})[A-Za-z]{{3,}}(?![A-Za-z])"
                    rf"|(?<![\\A-Za-z])(?!{_NOT_PROSE})[A-Za-z]{{2,}}\s+(?!{_NOT_PROSE})[A-Za-z]{{2,}}(?![A-Za-z])")
_NAMED_ARGUMENT = re.compile(r"\\(?:begin|end|operatorname|math[a-z]{2,4})\{[^{}]{0,40}\}")
REL_TOL = 1e-5  # two numbers that Math-Verify calls equal must also agree to this relative difference


def math_check(pred: str, gold: str) -> float | None:
    """Math-Verify equivalence of two answer strings, gold first (its argument order), timeouts off.

    1.0 equal, 0.0 not (or `pred` unparsable), None when the *gold* cannot be parsed (a dataset
    problem: the sample is skipped, not scored wrong). Golds are parsed once per worker and cached.
    Bare answers are wrapped in $…$: Math-Verify's LaTeX extractor needs a math-mode anchor, and
    without one "\\frac12" parses to nothing (measured on 0.9).
    """
    try:
        from math_verify import verify

        gold_parsed = _parse_gold(gold)
        if not gold_parsed:
            return None
        pred_parsed = _parse(pred)
        if not pred_parsed:
            return 0.0
        return 1.0 if _equal(list(gold_parsed), pred_parsed) else 0.0
    except Exception:  # MemoryError, RecursionError, sympy internals: a wrong answer
        return 0.0


def _equal(gold: list, pred: list) -> bool:
    """Math-Verify's verdict, narrowed: where it matched two parsed values, their numbers must also
    agree to REL_TOL relatively (exactly, for two exact rationals). Math-Verify rounds to 6 decimal
    places, so 10^{-30} and 2*10^{-30}, or 1e-7 and 2e-7, are "equal" to it (measured on 0.9)."""
    from math_verify import verify

    if not verify(gold, pred, timeout_seconds=None):
        return False
    values = [(g, p) for g in gold for p in pred if not isinstance(g, str) and not isinstance(p, str)]
    # A pair whose numbers disagree vetoes only if it is a pair Math-Verify matched (checked last: rare).
    return not any(not _numbers_agree(g, p) and verify([g], [p], timeout_seconds=None) for g, p in values)


def _numbers_agree(a, b, depth: int = 0) -> bool:
    """Every pair of corresponding numbers in two same-shaped sympy values is close:
        exact rationals:  a == b;   otherwise  |a - b| <= REL_TOL * max(|a|, |b|)   (30-digit evaluation)
    Only containers are walked (tuples, sets, intervals, matrices: element i matches element i);
    anything else (equations, which Math-Verify may rescale) is left to its verdict (True)."""
    try:
        if getattr(a, "is_number", False) is True and getattr(b, "is_number", False) is True:
            if a.is_Rational and b.is_Rational:
                return bool(a == b)
            x, y = a.evalf(30), b.evalf(30)
            return bool(abs(x - y) <= REL_TOL * max(abs(x), abs(y)))
        args_a, args_b = getattr(a, "args", ()), getattr(b, "args", ())
        if depth < 20 and type(a) is type(b) and _is_container(a) and len(args_a) == len(args_b):
            return all(_numbers_agree(x, y, depth + 1) for x, y in zip(args_a, args_b))
    except Exception:  # sympy could not evaluate the difference: keep Math-Verify's verdict
        pass
    return True


def _is_container(value) -> bool:
    from sympy import FiniteSet, Interval, MatrixBase, Tuple

    return isinstance(value, (Tuple, FiniteSet, Interval, MatrixBase))


def _parse(text: str) -> list:
    """A FREE_TEXT tail through Math-Verify's extraction; a bare answer in math mode, else as it is.

    An answer with prose in it ("18 dollars", "the largest n is 34") is read as text first: in
    math mode its letters become a product (measured: "$18 dollars$" does not verify against 18).
    """
    from math_verify import parse

    if text.startswith(FREE_TEXT):
        return parse(text[len(FREE_TEXT) :], parsing_timeout=None)
    as_math = parse(_as_math(text), parsing_timeout=None) if not _has_word(text) else []
    return as_math or parse(text, parsing_timeout=None) or parse(_as_math(text), parsing_timeout=None)


@functools.lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> tuple:
    """Parsed gold, cached: a dataset's golds recur across G samples, epochs and evaluations."""
    return tuple(_parse(gold))


def _has_word(text: str) -> bool:
    """Prose in `text` (`_PROSE`), outside environment and operator names (\\begin{pmatrix})."""
    return _PROSE.search(_NAMED_ARGUMENT.sub(" ", text)) is not None


def _as_math(text: str) -> str:
    """`text` in math mode unless it already has a math delimiter (an escaped \\$ is a dollar sign)."""
    delimited = "$" in text.replace("\\$", "") or any(d in text for d in ("\\boxed", "\\(", "\\["))
    return text if delimited else f"${text}$"
