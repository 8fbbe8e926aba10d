"""`check_sandbox`: prove, on this machine, that a job is contained before trusting the sandbox.

Three runs of the real job path (same uid lease, same command line as `Sandbox.run`):
  1. `/usr/bin/true`: bwrap can build its namespaces (fails where user namespaces are disabled,
     e.g. sysctl kernel.unprivileged_userns_clone=0 or Ubuntu's AppArmor userns restriction);
  2. the interpreter prints its version: it exists under /usr and runs as the sandbox uid;
  3. a probe reports what it can see and do: no capability, a mode-000 root-owned file in its job
     directory unreadable (so its host uid is not root and it cannot override file permissions), no
     /etc/shadow /etc /root /home /sys /var /opt, only the loopback interface, no writable / /usr /job /dev.
Each failure raises `SandboxUnavailable` with one line naming it. A pass is cached per process
for the same (interpreter, uid base, effective uid).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading

from r1kit.sandbox.jobs import Tools, run_job
from r1kit.sandbox.limits import Limits
from r1kit.sandbox.result import SandboxUnavailable
from r1kit.sandbox.uids import UidPool

DEFAULT_PYTHON = "/usr/bin/python3"
DEFAULT_UID_BASE = 61000
CHECK_LIMITS = Limits(wall_s=20.0, cpu_s=10)  # generous: the first start on a loaded machine can be slow
HIDDEN = ("/etc/shadow", "/etc", "/root", "/home", "/sys", "/var", "/opt")

PROBE = r"""
import json, os
caps = {k: int(v, 16) for k, v in (l.split(":\t") for l in open("/proc/self/status").read().splitlines())
        if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
def _readable(path):
    try:
        open(path, "rb").close()
        return True
    except OSError:
        return False
def writable(d):
    try:
        open(os.path.join(d, ".probe"), "w").close()
        return True
    except OSError:
        return False
print(json.dumps({
    "caps": caps,
    "secret_readable": _readable("secret"),
    "visible": [p for p in %r if os.path.lexists(p)],
    "interfaces": [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]],
    "writable": [d for d in ("/", "/usr", "/job", "/dev") if writable(d)],
}))
""" % (HIDDEN,)

_passed: set[tuple] = set()
_lock = threading.Lock()


def check_sandbox(python: str = DEFAULT_PYTHON, *, uid_base: int = DEFAULT_UID_BASE) -> None:
    """Self-test the sandbox (module docstring); raises SandboxUnavailable("<what failed>") on failure.

    `uid_base`: the first uid of the range a Sandbox uses when run as root (ignored otherwise).
    """
    key = (python, uid_base, os.geteuid())
    with _lock:
        if key in _passed:
            return
    tools = Tools.find(need_bwrap=True)
    pool = UidPool(uid_base if os.geteuid() == 0 else None, 1)
    try:
        with pool.lease() as uid, tempfile.TemporaryDirectory(prefix="r1kit-sandbox-check-") as root:
            if uid is not None:
                os.chmod(root, 0o711)
            run = functools.partial(run_job, stdin=b"", limits=CHECK_LIMITS, root=root, uid=uid, tools=tools)
            _check_namespaces(run(["/usr/bin/true"], {}))
            _check_interpreter(python, run([python, "-c", "import sys; print(sys.version_info[0])"], {}))
            _check_containment(run([python, "-c", PROBE], {"secret": b"x"}, unreadable=("secret",)))
    finally:
        pool.close()
    with _lock:
        _passed.add(key)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "(no output)"


def _check_namespaces(result) -> None:
    if result.ok:
        return
    line = _first_line(result.stderr)
    hint = ""
    if any(word in line for word in ("namespace", "uid map", "Operation not permitted", "Permission denied")):
        hint = (" (user namespaces disabled or restricted? e.g. sysctl kernel.unprivileged_userns_clone=1, "
                "kernel.apparmor_restrict_unprivileged_userns=0)")
    raise SandboxUnavailable(f"bwrap cannot start a sandbox{hint}: {result.status}, {line}")


def _check_interpreter(python: str, result) -> None:
    if result.ok and result.stdout.strip() == "3":
        return
    raise SandboxUnavailable(f"interpreter {python} is not usable inside the sandbox (only /usr is visible there; "
                             f"pass python=/usr/bin/python3 or another under /usr): {result.status}, "
                             f"{_first_line(result.stderr or result.stdout)}")


def _check_containment(result) -> None:
    try:
        probe = json.loads(result.stdout)
    except ValueError:
        raise SandboxUnavailable(f"sandbox probe failed: {result.status}, {_first_line(result.stderr)}") from None
    failures = [f"capability set {k}={v:#x} not empty" for k, v in probe["caps"].items() if v]
    if probe["secret_readable"]:
        failures.append("a mode-000 root-owned file is readable (host uid 0 or DAC override kept)")
    failures += [f"{p} visible" for p in probe["visible"]]
    if probe["interfaces"] != ["lo"]:
        failures.append(f"network interfaces {probe['interfaces']} (want only lo)")
    failures += [f"{d} writable" for d in probe["writable"]]
    if failures:
        raise SandboxUnavailable("sandbox containment check failed: " + "; ".join(failures))
