"""Run untrusted, model-written programs contained: bubblewrap plus rlimits, for code rewards.

    from r1kit.sandbox import Limits, Sandbox
    with Sandbox(Limits(wall_s=5), workers=4) as sb:
        result = sb.run_python("print(sum(map(int, input().split())))", stdin="1 2")
        result.status, result.stdout    # ("ok", "3\\n")

Threat model: the program is hostile. It may read or write anything it can reach, open network
connections, fork without end, allocate without end, spin, sleep, print without end, kill what it
can, or leave daemons behind. What is contained (each checked by tests/sandbox/test_hostile.py):
  * files: it sees only /usr (read-only), its own read-only job directory at /job, a size-capped
    private /tmp and /dev/shm, a minimal read-only /dev and its own /proc; no /etc, /home, /root,
    /sys or host paths, so no host file can be read or changed;
  * privileges: an unprivileged host uid (as root, a distinct uid per concurrent job, see `uids`),
    every capability dropped, no new user namespaces: remounting read-write fails;
  * network: its own network namespace with only loopback; host listeners are unreachable;
  * processes: its own pid namespace (it cannot see or signal host processes); RLIMIT_NPROC stops
    fork bombs; when the job ends or is killed the whole namespace dies, daemons included;
  * resources: per-process rlimits on CPU time, address space, file size, open files, no core
    files; a wall-clock deadline for the whole job; stdout/stderr capped (the job is killed past the cap).
What is NOT contained: kernel bugs (there is no seccomp filter, so the full syscall surface is
exposed); total memory and CPU of a job across its processes (rlimits are per process and there
are no cgroups: up to `nproc` processes of `memory_mb` each, until the deadline); timing side
channels; information in /proc about the machine (CPU model, memory size, load). In
`unsafe_local` mode nothing but the rlimits, deadline and output caps applies.

Needs Linux with unprivileged user namespaces, bwrap (Debian: apt-get install bubblewrap; tested
with 0.8.0) and util-linux's prlimit. As root, bwrap is started as uids uid_base..uid_base+workers-1,
which no real user may own; as another user it runs as that user.
"""

from r1kit.sandbox.limits import Limits
from r1kit.sandbox.result import ExecResult, SandboxUnavailable
from r1kit.sandbox.sandbox import Sandbox
from r1kit.sandbox.selftest import check_sandbox

__all__ = ["ExecResult", "Limits", "Sandbox", "SandboxUnavailable", "check_sandbox"]
