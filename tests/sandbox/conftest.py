"""Fixtures for the sandbox tests: a shared Sandbox with small limits, and a no-leftovers check.

Tests that need bubblewrap take the `sandbox` (or `bwrap`) fixture, which skips them with the
self-test's one-line reason where the sandbox cannot run (no bwrap, user namespaces disabled).
"""

import os
import time

import pytest

from r1kit.sandbox import Limits, Sandbox, SandboxUnavailable, check_sandbox
from r1kit.sandbox.procs import pids_of_uid

SMALL = Limits(wall_s=5.0, cpu_s=2, memory_mb=512, nproc=32, fsize_mb=4, nofile=32, tmp_mb=8, output_bytes=1 << 16)
# A uid range of this session's own (in Debian's 60000-64999 block for local allocation), so that two
# test sessions on one machine do not see each other's jobs in the no-leftovers check.
UID_BASE = 61000 + 8 * (os.getpid() % 400)


@pytest.fixture(scope="session")
def bwrap():
    """Skip unless the sandbox self-test passes on this machine."""
    try:
        check_sandbox(uid_base=UID_BASE)
    except SandboxUnavailable as e:
        pytest.skip(f"sandbox unavailable: {e}")


@pytest.fixture(scope="session")
def sandbox(bwrap):
    """One Sandbox (4 workers, `SMALL` limits) for the session."""
    with Sandbox(SMALL, workers=4, uid_base=UID_BASE) as sb:
        yield sb


def leftovers(sb: Sandbox) -> list[str]:
    """Processes a sandbox may have left: any of its uids (as root), or any of ours in another pid
    namespace (not root); and job directories not removed."""
    found = [f"job dir {name}" for name in os.listdir(sb._root)]
    if os.geteuid() == 0:
        for uid in range(UID_BASE, UID_BASE + sb.workers):
            found += [f"pid {pid} (uid {uid})" for pid in pids_of_uid(uid, include_zombies=True)]
        return found
    ours = os.readlink("/proc/self/ns/pid")
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{name}").st_uid == os.getuid() and os.readlink(f"/proc/{name}/ns/pid") != ours:
                found.append(f"pid {name} in another pid namespace")
        except OSError:
            continue
    return found


def assert_clean(sb: Sandbox, wait_s: float = 0.0) -> None:
    """No leftovers (see `leftovers`), allowing `wait_s` for the kernel to finish tearing down."""
    deadline = time.monotonic() + wait_s
    while (found := leftovers(sb)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not found, found


@pytest.fixture
def clean():
    """`assert_clean` as a fixture: `clean(sb)` after a run."""
    return assert_clean
