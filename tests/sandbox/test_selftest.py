"""check_sandbox: passes here, and names what failed when something is wrong."""

import os
import time

import pytest

from r1kit.sandbox import SandboxUnavailable, check_sandbox, jobs, selftest
from r1kit.sandbox.uids import UidPool

from .conftest import UID_BASE


@pytest.fixture
def uncached(monkeypatch):
    monkeypatch.setattr(selftest, "_passed", set())


def test_passes_and_is_cached(bwrap):
    t0 = time.monotonic()
    check_sandbox(uid_base=UID_BASE)
    assert time.monotonic() - t0 < 0.01


def test_missing_bwrap_says_how_to_install(uncached, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap") as e:
        check_sandbox(uid_base=UID_BASE)
    assert "\n" not in str(e.value)


def test_unusable_interpreter_is_named(bwrap, uncached):
    with pytest.raises(SandboxUnavailable, match="interpreter /opt/nowhere/python3 is not usable") as e:
        check_sandbox("/opt/nowhere/python3", uid_base=UID_BASE)
    assert "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs bwrap as root without --cap-drop")
def test_containment_failure_is_detected(bwrap, uncached, monkeypatch):
    """The classic mistake: bwrap started as root keeps its capabilities inside (measured: a read-only bind
    was remounted read-write and written through to the host)."""
    real_argv = jobs.bwrap_argv

    def keep_caps(*args, **kwargs):
        argv = real_argv(*args, **kwargs)
        i = argv.index("--cap-drop")
        return argv[:i] + argv[i + 2:]

    class RootPool(UidPool):
        def __init__(self, base, size):
            super().__init__(None, size)

    monkeypatch.setattr(jobs, "bwrap_argv", keep_caps)
    monkeypatch.setattr(selftest, "UidPool", RootPool)
    with pytest.raises(SandboxUnavailable, match="containment check failed") as e:
        check_sandbox(uid_base=UID_BASE)
    assert "CapEff" in str(e.value) and "root-owned file is readable" in str(e.value)


def test_namespace_failure_message_names_user_namespaces():
    from r1kit.sandbox import ExecResult

    stderr = ("bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
              "non-privileged user namespaces.\n")
    with pytest.raises(SandboxUnavailable, match="user namespaces disabled or restricted") as e:
        selftest._check_namespaces(ExecResult("sandbox_error", 1, "", stderr, False, 0.01))
    assert "\n" not in str(e.value) and "No permissions" in str(e.value)
