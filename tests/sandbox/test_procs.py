"""/proc scanning and killing by uid."""

import os
import subprocess

import pytest

from r1kit.sandbox.procs import is_namespace_init, kill_uid, pids_of_uid, user_process_count

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="starting a process as another uid needs root")


def test_pids_of_our_uid_include_us():
    assert os.getpid() in pids_of_uid(os.getuid())
    assert user_process_count(os.getuid()) >= 1


def test_namespace_init_needs_a_nested_pid_one():
    assert not is_namespace_init(os.getpid(), None)  # pid 1 of no namespace below ours
    assert not is_namespace_init(2**22 + 1, None)  # no such process


def test_kill_uid_with_nothing_running_returns_at_once():
    assert kill_uid(60999, timeout_s=1.0)


@root_only
def test_kill_uid_kills_every_process_of_that_uid():
    procs = [subprocess.Popen(["sleep", "100"], user=60998, group=60998, extra_groups=[]) for _ in range(3)]
    assert sorted(pids_of_uid(60998)) == sorted(p.pid for p in procs)
    assert kill_uid(60998, timeout_s=5.0)
    assert [p.wait(5) for p in procs] == [-9, -9, -9]
    assert pids_of_uid(60998, include_zombies=True) == []
