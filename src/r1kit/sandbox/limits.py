"""Resource limits of one sandboxed run, and the `prlimit` prefix that applies them.

The rlimits are set by util-linux's `prlimit` on itself before it execs bwrap, so they are
inherited by bwrap and everything inside. That avoids `Popen(preexec_fn=...)`, which is not safe
in a process with threads (`Sandbox.run_many` runs jobs from a thread pool).

rlimits are per process (CPU, address space) or per user (processes), never per job: a job that
forks `nproc` children may use up to `nproc * memory_mb` of address space and `nproc * cpu_s` of
CPU in total. The wall-clock deadline is what bounds a job as a whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one run may use. All limits apply to every process of the job."""

    wall_s: float = 10.0
    """Wall-clock deadline in seconds; after it the whole job is killed and the result is "timeout"."""
    cpu_s: int = 5
    """RLIMIT_CPU in CPU-seconds per process, soft = hard: SIGKILL at cpu_s ("killed", exit_code -9)."""
    memory_mb: int = 1024
    """RLIMIT_AS in MiB per process (address space, not resident memory; Python itself needs ~30 MiB)."""
    nproc: int = 64
    """RLIMIT_NPROC: processes and threads of the job, bwrap's own process included. As root each
    concurrent job has a uid of its own; as another user this is added to what that user already runs."""
    fsize_mb: int = 16
    """RLIMIT_FSIZE in MiB: the largest file a process may write (SIGXFSZ past it)."""
    nofile: int = 64
    """RLIMIT_NOFILE: open file descriptors per process."""
    tmp_mb: int = 64
    """Size in MiB of the private /tmp tmpfs (and, separately, of /dev/shm)."""
    output_bytes: int = 1 << 20
    """Cap in bytes per captured stream (stdout, stderr); past it the job is killed and `truncated` set."""

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if f.name == "wall_s":
                if not (number and 0 < value < math.inf):
                    raise ValueError(f"Limits.wall_s must be a number of seconds > 0, got {value!r}")
            elif not (number and isinstance(value, int) and value >= _MINIMUM[f.name]):
                raise ValueError(f"Limits.{f.name} must be an int >= {_MINIMUM[f.name]}, got {value!r}")


_MINIMUM = {"cpu_s": 1, "memory_mb": 16, "nproc": 4, "fsize_mb": 1, "nofile": 8, "tmp_mb": 1, "output_bytes": 1}


def prlimit_argv(prlimit: str, limits: Limits, nproc_extra: int = 0) -> list[str]:
    """`prlimit --cpu=... -- ` to put in front of a command; `nproc_extra` is added to `limits.nproc`.

    RLIMIT_NPROC counts every process of the real uid, so a caller that shares its uid with other
    processes passes how many there are (see `procs.user_process_count`).
    """
    return [
        prlimit,
        # soft = hard: the program is pid 1 of its namespace (bwrap --as-pid-1), and an init ignores
        # SIGXCPU; the hard limit's SIGKILL always lands.
        f"--cpu={limits.cpu_s}:{limits.cpu_s}",
        f"--as={limits.memory_mb * MIB}",
        f"--nproc={limits.nproc + nproc_extra}",
        f"--fsize={limits.fsize_mb * MIB}",
        f"--nofile={limits.nofile}",
        "--core=0",
        "--",
    ]
