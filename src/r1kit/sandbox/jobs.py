"""One job: a fresh directory holding the program's files, the host command that runs it, cleanup.

The job directory is created under the sandbox's private root and removed after the run. Under
bwrap it is bound read-only at /job, so the program cannot change its own files or leave new
ones; as root it is shared with the job's uid alone (root:uid, 0750/0640). In unsafe_local mode
the program runs in it directly, as us.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from r1kit.sandbox.bwrap import ENV, bwrap_argv
from r1kit.sandbox.limits import Limits, prlimit_argv
from r1kit.sandbox.procs import user_process_count
from r1kit.sandbox.result import SANDBOX_ERROR, ExecResult, SandboxUnavailable
from r1kit.sandbox.runner import Command, execute


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the host programs a job needs."""

    prlimit: str
    bwrap: str | None  # None: unsafe_local, no isolation

    @classmethod
    def find(cls, need_bwrap: bool = True) -> Tools:
        """Look both up on PATH; SandboxUnavailable naming the one that is missing."""
        bwrap = shutil.which("bwrap") if need_bwrap else None
        if need_bwrap and bwrap is None:
            raise SandboxUnavailable("bwrap not on PATH: install Debian's bubblewrap: apt-get install bubblewrap")
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise SandboxUnavailable("prlimit not on PATH: install util-linux (apt-get install util-linux)")
        return cls(prlimit, bwrap)


def run_job(argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, *, root: str,
            uid: int | None, tools: Tools, unreadable: tuple[str, ...] = ()) -> ExecResult:
    """Write `files` to a new job directory under `root`, run `argv` there, remove the directory.

    `unreadable`: names among `files` made mode 000 (and root's, as root), for the self-test.
    A host failure while setting up (disk full, out of file descriptors) is a "sandbox_error" result.
    """
    try:
        job = make_job_dir(root, files, uid, unreadable)
    except OSError as e:
        return ExecResult(SANDBOX_ERROR, None, "", f"cannot create the job directory: {e}", False, 0.0)
    try:
        return execute(_command(argv, job, limits, uid, tools), stdin, limits)
    except OSError as e:  # os.pipe() or the /proc scan failed
        return ExecResult(SANDBOX_ERROR, None, "", f"cannot start the job: {e}", False, 0.0)
    finally:
        remove_job_dir(job)


def _command(argv: list[str], job: str, limits: Limits, uid: int | None, tools: Tools) -> Command:
    # RLIMIT_NPROC counts all processes of the real uid: a uid of our own starts at 0 (and root is
    # exempt), while a shared user's budget must sit on top of what that user already runs.
    extra = 0 if os.geteuid() == 0 else user_process_count(os.getuid())
    prefix = prlimit_argv(tools.prlimit, limits, nproc_extra=extra)
    if tools.bwrap is None:
        return Command(prefix + argv, cwd=job, env={**ENV, "HOME": job})
    read_fd, write_fd = os.pipe()
    inner = bwrap_argv(tools.bwrap, argv, job, limits, status_fd=write_fd)
    return Command(prefix + inner, cwd="/", env={"PATH": ENV["PATH"]}, uid=uid, status_fds=(read_fd, write_fd))


def make_job_dir(root: str, files: dict[str, bytes], uid: int | None, unreadable: tuple[str, ...] = ()) -> str:
    """A new directory under `root` holding `files` (names already checked by `check_files`)."""
    job = tempfile.mkdtemp(prefix="job-", dir=root)
    try:
        for name, data in files.items():
            path = os.path.join(job, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        if uid is not None:
            for dirpath, _, filenames in os.walk(job):
                os.chown(dirpath, 0, uid)
                os.chmod(dirpath, 0o750)
                for name in filenames:
                    os.chown(os.path.join(dirpath, name), 0, uid)
                    os.chmod(os.path.join(dirpath, name), 0o640)
        for name in unreadable:
            os.chmod(os.path.join(job, name), 0)
            if uid is not None:
                os.chown(os.path.join(job, name), 0, 0)
    except BaseException:
        remove_job_dir(job)
        raise
    return job


def remove_job_dir(path: str) -> None:
    """Remove a job directory, also one a plain (unsafe_local) program made unreadable."""
    def unlock(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, **{"onexc" if sys.version_info >= (3, 12) else "onerror": unlock})


def check_files(files) -> dict[str, bytes]:
    """`files` as {relative path: bytes}; TypeError/ValueError for a bad name or content."""
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise TypeError(f"files must be a dict of relative path -> str | bytes, got {type(files).__name__}")
    out = {}
    for name, data in files.items():
        if not isinstance(name, str) or not isinstance(data, (str, bytes)):
            raise TypeError(f"files must map str paths to str | bytes, got {name!r}: {type(data).__name__}")
        if "\0" in name or any(part in ("", ".", "..") for part in name.split("/")):
            raise ValueError(f"file name must be a plain relative path inside the job directory, got {name!r}")
        out[name] = to_bytes(data)
    for name in out:
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in out:
                raise ValueError(f"file {name!r} needs {'/'.join(parts[:i])!r} to be a directory, but it is a file")
    return out


def to_bytes(data) -> bytes:
    """str (UTF-8; lone surrogates passed through, never an error) or bytes-like -> bytes."""
    if isinstance(data, str):
        return data.encode("utf-8", errors="surrogatepass")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected str or bytes, got {type(data).__name__}")
