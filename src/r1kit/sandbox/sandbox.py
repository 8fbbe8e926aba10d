"""`Sandbox`: run model-written programs contained, several at once, each with its own uid.

    with Sandbox(Limits(wall_s=5, cpu_s=2), workers=4) as sb:
        sb.run_python("print(input()[::-1])", stdin="abc").stdout   # "cba\n"
        sb.run_many([{"code": "print(1)"}, {"code": "import os; os.fork()"}])

Starting one runs `check_sandbox` (cached per process). Runs never raise for what a program does;
only caller mistakes raise (TypeError/ValueError) and a closed sandbox (RuntimeError).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from r1kit.sandbox.jobs import Tools, check_files, run_job, to_bytes
from r1kit.sandbox.limits import Limits
from r1kit.sandbox.result import ExecResult
from r1kit.sandbox.selftest import DEFAULT_PYTHON, DEFAULT_UID_BASE, check_sandbox
from r1kit.sandbox.uids import UidPool

log = logging.getLogger(__name__)

MAIN = "main.py"
JOB_KEYS = {"code", "stdin", "files", "limits"}


class Sandbox:
    """Runs programs in bubblewrap (see the package docstring for what is and is not contained).

    limits: the default `Limits` of a run (a run may pass its own).
    workers: how many runs may go at once (`run_many`'s threads; direct `run` calls wait for a slot).
    python: the interpreter `run_python` uses; must live under /usr (the only host tree inside).
    unsafe_local: no bwrap at all: programs run as plain subprocesses of the current user with the same
        rlimits, deadline and output caps, but NO isolation (files, network, other processes; as root
        not even RLIMIT_NPROC, which the kernel does not apply to root). An explicit opt-in for machines
        without bwrap; logged as a warning.
    uid_base: as root, run i of the `workers` concurrent runs as host uid uid_base + i (no user may own them).
    """

    def __init__(self, limits: Limits = Limits(), workers: int = 4, python: str = DEFAULT_PYTHON,
                 unsafe_local: bool = False, uid_base: int = DEFAULT_UID_BASE):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        if not isinstance(python, str) or not python or "\0" in python:
            raise ValueError(f"python must be a path (under /usr) or a name on /usr/bin:/bin, got {python!r}")
        self.limits, self.workers, self.python, self.unsafe_local = limits, workers, python, bool(unsafe_local)
        if self.unsafe_local:
            log.warning("UNSAFE: r1kit.sandbox unsafe_local=True runs untrusted programs as plain subprocesses "
                        "of uid %d with rlimits only: no filesystem, network or process isolation", os.geteuid())
            self._tools = Tools.find(need_bwrap=False)
        else:
            check_sandbox(python, uid_base=uid_base)
            self._tools = Tools.find(need_bwrap=True)
        root_user = os.geteuid() == 0 and not self.unsafe_local
        self._uids = UidPool(uid_base if root_user else None, workers)
        self._root = tempfile.mkdtemp(prefix="r1kit-sandbox-")
        if root_user:
            os.chmod(self._root, 0o711)  # job uids may pass through to their own job directory, not list
        self._closed, self._running = False, 0
        self._state = threading.Condition()
        self._cleanup = weakref.finalize(self, _cleanup, self._root, self._uids)  # also at exit if never closed

    def run_python(self, code: str, stdin: str | bytes = b"", files: dict[str, str | bytes] | None = None,
                   limits: Limits | None = None) -> ExecResult:
        """Write `code` to main.py in a fresh job directory (with `files`) and run `python main.py` there."""
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        files = check_files(files)
        if MAIN in files:
            raise ValueError(f"files may not contain {MAIN!r}: the program itself is written there")
        files[MAIN] = to_bytes(code)
        return self._run([self.python, MAIN], files, stdin, limits)

    def run(self, argv: list[str], stdin: str | bytes = b"", files: dict[str, str | bytes] | None = None,
            limits: Limits | None = None) -> ExecResult:
        """Run `argv` inside (looked up on PATH=/usr/bin:/bin), working directory = the job directory."""
        return self._run(argv, check_files(files), stdin, limits)

    def run_many(self, jobs: list[dict]) -> list[ExecResult]:
        """`run_python(**job)` for each job, `workers` at a time; results in input order."""
        if not isinstance(jobs, (list, tuple)):
            raise TypeError(f"jobs must be a list of dicts, got {type(jobs).__name__}")
        for job in jobs:
            if not isinstance(job, dict) or not set(job) <= JOB_KEYS or "code" not in job:
                raise ValueError(f"each job must be a dict with 'code' and optionally {sorted(JOB_KEYS - {'code'})}, "
                                 f"got {job!r:.200}")
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix="sandbox") as pool:
            futures = [pool.submit(self.run_python, **job) for job in jobs]
            return [f.result() for f in futures]

    def _run(self, argv, files: dict[str, bytes], stdin, limits) -> ExecResult:
        if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError(f"argv must be a non-empty list of str, got {argv!r:.200}")
        if any("\0" in a for a in argv):
            raise ValueError("argv may not contain NUL characters")
        stdin = b"" if stdin is None else to_bytes(stdin)
        limits = self.limits if limits is None else limits
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits or None, got {type(limits).__name__}")
        with self._state:
            if self._closed:
                raise RuntimeError("this Sandbox is closed")
            self._running += 1
        try:
            with self._uids.lease() as uid:
                return run_job(list(argv), files, stdin, limits, root=self._root, uid=uid, tools=self._tools)
        finally:
            with self._state:
                self._running -= 1
                self._state.notify_all()

    def close(self) -> None:
        """Refuse new runs, wait for those under way, remove the sandbox's directory; safe to call twice."""
        with self._state:
            self._closed = True
            self._state.wait_for(lambda: self._running == 0)
        self._cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cleanup(root: str, uids: UidPool) -> None:
    shutil.rmtree(root, ignore_errors=True)
    uids.close()
