"""The bubblewrap command line that contains one job.

What the sandboxed program sees:
  /usr (read-only) and /bin /sbin /lib* as the host has them (symlinks into /usr on merged-usr
  systems such as Debian 12, read-only binds otherwise); no /etc, /home, /root, /sys, /var or /opt;
  its own /proc (a new pid namespace: only its own processes); a minimal /dev, read-only apart
  from a size-capped /dev/shm; a size-capped private /tmp; the job directory read-only at /job
  (the working directory); a read-only root; a fixed environment (`ENV`).
Namespaces: new user, pid, mount, ipc, uts, cgroup and network namespaces (`--unshare-all`); the
network namespace has only a loopback interface, so nothing on the host or beyond is reachable.
Privileges: every capability dropped (`--cap-drop ALL`), no further user namespaces
(`--disable-userns`), a new session (no TIOCSTI into a terminal), killed with its parent.

The program is pid 1 of its pid namespace (`--as-pid-1`). With bwrap's own init as pid 1 instead,
bwrap exits as soon as the program does without waiting for that init, which is then left as
a zombie for the host's init to reap, counted against the uid's RLIMIT_NPROC until it does (in a
container whose pid 1 never reaps, a sandbox uid runs out of processes after `nproc` jobs). As
pid 1 the program's exit kills everything else in the namespace at once and bwrap reaps it. The
price: signals from inside the namespace to the program with default action are ignored (it
cannot kill itself with os.kill; SIGXCPU is ignored, hence cpu soft = hard limit), and it must
reap its own orphaned grandchildren (they die with the job anyway).

bwrap must be started by an unprivileged host uid: started as root it keeps capabilities inside
unless dropped, and `--uid` only renames root inside a user namespace (see `runner`, `uids`).
"""

from __future__ import annotations

import os

from r1kit.sandbox.limits import MIB, Limits

JOB_DIR = "/job"
"""Where the job directory appears inside the sandbox (the program's working directory)."""

ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",  # /job is read-only
    "PYTHONHASHSEED": "0",  # same set/dict-of-str iteration order on every run: reproducible rewards
}
"""The whole environment of the sandboxed program (bwrap --clearenv first)."""

TOP_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def bwrap_argv(bwrap: str, argv: list[str], job_dir: str, limits: Limits, status_fd: int) -> list[str]:
    """bwrap's arguments to run `argv` in `job_dir`; bwrap writes JSON status lines to `status_fd`.

    The order matters: bwrap applies mount operations in order, and the root is made read-only last.
    """
    tmp_bytes = str(limits.tmp_mb * MIB)
    args = [
        bwrap,
        "--cap-drop", "ALL",
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--new-session", "--die-with-parent", "--as-pid-1",
        "--hostname", "sandbox",
        "--json-status-fd", str(status_fd),
        "--ro-bind", "/usr", "/usr",
        *system_dirs(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", tmp_bytes, "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",  # bwrap's /dev is an uncapped tmpfs: no files there
        "--size", tmp_bytes, "--tmpfs", "/tmp",
        "--ro-bind", job_dir, JOB_DIR,
        "--chdir", JOB_DIR,
        "--remount-ro", "/",  # the root tmpfs bwrap builds is uncapped too
        "--clearenv",
    ]
    for key, value in ENV.items():
        args += ["--setenv", key, value]
    return args + ["--", *argv]


def system_dirs(root: str = "/") -> list[str]:
    """bwrap arguments recreating the host's /bin, /sbin, /lib* (symlink or read-only bind)."""
    args = []
    for name in TOP_DIRS:
        path = os.path.join(root, name)
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), "/" + name]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, "/" + name]
    return args
