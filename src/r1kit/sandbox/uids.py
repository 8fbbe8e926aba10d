"""Host uids for sandboxed jobs: one distinct unprivileged uid per concurrent job when we are root.

Why: bwrap started as root is not a privilege drop (capabilities kept unless dropped; the host
uid stays 0 under `--uid`, so root-only files stay readable and RLIMIT_NPROC is not enforced).
Started as an unused uid U it is unprivileged; giving each concurrent job its own U makes
RLIMIT_NPROC a per-job budget and lets the runner kill "every process of U" after a job.

A uid is leased under an exclusive `flock` on a root-only lock file, so two `Sandbox`es (in this
process or another on the same machine) with overlapping uid ranges take turns instead of sharing a
uid. The range must not belong to any real user: it is checked against the user database.
When we are not root the lease is `None`: jobs run as the current user, which is unprivileged already.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import queue
import stat
import tempfile

from r1kit.sandbox.result import SandboxUnavailable

LOCK_DIR = os.path.join(tempfile.gettempdir(), "r1kit-sandbox-uids")


class UidPool:
    """`size` leases; each is a distinct uid from `base` on (as root) or None (not root)."""

    def __init__(self, base: int | None, size: int):
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._locks: dict[int, int] = {}
        if base is None:
            for _ in range(size):
                self._free.put(None)
            return
        _check_free_range(base, size)
        lock_dir = _lock_dir()
        for uid in range(base, base + size):
            self._locks[uid] = os.open(os.path.join(lock_dir, f"{uid}.lock"),
                                       os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            self._free.put(uid)

    @contextlib.contextmanager
    def lease(self):
        """Yield a uid (or None) no other job holds; blocks while all are in use."""
        uid = self._free.get()
        try:
            if uid is not None:
                fcntl.flock(self._locks[uid], fcntl.LOCK_EX)  # another pool with this uid: wait
            try:
                yield uid
            finally:
                if uid is not None:
                    fcntl.flock(self._locks[uid], fcntl.LOCK_UN)
        finally:
            self._free.put(uid)

    def close(self) -> None:
        for fd in self._locks.values():
            os.close(fd)
        self._locks.clear()


def _check_free_range(base: int, size: int) -> None:
    if not (isinstance(base, int) and 1000 <= base and base + size <= 2**31 - 2):
        raise ValueError(f"uid_base must be an int >= 1000 leaving room for {size} uids, got {base!r}")
    for uid in range(base, base + size):
        try:
            owner = pwd.getpwuid(uid).pw_name
        except KeyError:
            continue
        raise SandboxUnavailable(f"uid {uid} belongs to user {owner!r}; pick a uid_base whose "
                                 f"{size} uids no user has (the sandbox kills all processes of its uids)")


def _lock_dir() -> str:
    """A directory only root can write, for the lock files (refuses one someone else made)."""
    try:
        os.mkdir(LOCK_DIR, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise SandboxUnavailable(f"{LOCK_DIR} must be a directory owned by root and writable only by it")
    return LOCK_DIR
