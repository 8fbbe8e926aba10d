"""Run one command to completion: stdin in, capped stdout/stderr out, a wall deadline, nothing left behind.

    result = execute(Command(["python3", "-c", "print(input())"], cwd="/tmp", env={"PATH": "/usr/bin"}),
                     b"hi\n", Limits(wall_s=2))            # ExecResult(status="ok", stdout="hi\n", ...)

The output pipes are read as data arrives (one selector loop, no threads) and kept up to
`Limits.output_bytes` each; a stream past its cap gets the job killed at once, so a program that
prints forever costs neither memory nor time. stdin is written in the same loop, so a program that
never reads it cannot block us. Bytes are decoded as UTF-8 with errors="replace".

Killing a bwrap job: bwrap reports the host pid of the program, which is pid 1 of its own pid
namespace ("child-pid" on the --json-status-fd pipe). SIGKILL to it makes the kernel kill every
process in the namespace, daemons that called setsid() included; bwrap then reaps it and exits, so
nothing is left for the host's init to reap. If bwrap does not exit within `KILL_WAIT_S` (a
namespace of many processes can take seconds to die), its process group gets SIGKILL, and as root
(each job has its own uid, see `uids`) every live process of that uid is then killed and waited for.
A plain command (unsafe_local) is killed by process group, always, when it ends: what it left in
its group goes too, but a daemon that called setsid() escapes.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field

from r1kit.sandbox import procs
from r1kit.sandbox.limits import Limits
from r1kit.sandbox.result import ERROR, KILLED, OK, SANDBOX_ERROR, TIMEOUT, ExecResult

log = logging.getLogger(__name__)

CHUNK = 1 << 16
STATUS_KEEP = 1 << 12  # bwrap's status lines are ~200 bytes (the program does not get the fd; bounded anyway)
POLL_S = 0.05  # how often the loop checks whether the process ended while its pipes stay open
EXIT_GRACE_S = 0.1  # after the process ends, how long to wait for pipes a leftover process holds
KILL_WAIT_S = 5.0


@dataclass
class Command:
    """A host command line and how to start it."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    uid: int | None = None
    """Run as this host uid and gid, no supplementary groups (needs root); None: as ourselves."""
    status_fds: tuple[int, int] | None = None
    """(read, write) ends of the pipe given to bwrap as --json-status-fd; None for a plain command.
    `execute` closes both."""


@dataclass
class _Capture:
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    status: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    timed_out: bool = False
    left_open: bool = False  # the process ended but something still held its pipes


def execute(cmd: Command, stdin: bytes, limits: Limits) -> ExecResult:
    """Run `cmd` under `limits` (wall deadline, output caps); never raises for what the command does."""
    start = time.monotonic()
    status_fd = cmd.status_fds[0] if cmd.status_fds else None
    try:
        proc = _spawn(cmd)
    except (OSError, subprocess.SubprocessError) as e:
        proc, error = None, f"cannot start {cmd.argv[0]}: {e}"
    finally:
        if cmd.status_fds:
            os.close(cmd.status_fds[1])  # bwrap holds the write end now; EOF once it and the job are gone
    if proc is None:
        if status_fd is not None:
            os.close(status_fd)
        return ExecResult(SANDBOX_ERROR, None, "", error, False, time.monotonic() - start)
    cap = _Capture()
    try:
        _pump(proc, stdin, limits, start + limits.wall_s, status_fd, cap)
    finally:
        _stop(proc, cap, cmd.uid, bwrap=status_fd is not None)
        if status_fd is not None:
            os.close(status_fd)
    return _result(proc.returncode, cap, bwrap=status_fd is not None, wall_s=time.monotonic() - start)


def _spawn(cmd: Command) -> subprocess.Popen:
    user = {} if cmd.uid is None else {"user": cmd.uid, "group": cmd.uid, "extra_groups": []}
    return subprocess.Popen(
        cmd.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cmd.cwd,
        env=cmd.env, close_fds=True, pass_fds=(cmd.status_fds[1],) if cmd.status_fds else (),
        start_new_session=True,  # its own process group: killpg reaches bwrap and its pid 1
        **user,
    )


def _pump(proc: subprocess.Popen, stdin: bytes, limits: Limits, deadline: float, status_fd: int | None,
          cap: _Capture) -> None:
    """Feed stdin and read the pipes until they close (then wait for the exit), a stream passes its
    cap, or the deadline."""
    most = limits.output_bytes
    sinks = {proc.stdout.fileno(): (cap.out, most), proc.stderr.fileno(): (cap.err, most)}
    if status_fd is not None:
        sinks[status_fd] = (cap.status, None)
    with selectors.DefaultSelector() as sel:
        for fd in sinks:
            sel.register(fd, selectors.EVENT_READ)
        pending = _start_stdin(proc, stdin, sel)
        readers, exited_at = set(sinks), None
        while readers and not cap.truncated:
            now = time.monotonic()
            if now >= deadline:
                cap.timed_out = True
                break
            if exited_at is None and _exited(proc):
                exited_at = now
            if exited_at is not None and now - exited_at > EXIT_GRACE_S:
                cap.left_open = True
                break
            for key, _ in sel.select(min(deadline - now, POLL_S)):
                if key.fd not in sinks:
                    pending = _feed(proc, pending, sel)
                elif not _read(key.fd, *sinks[key.fd], cap):
                    sel.unregister(key.fd)
                    readers.discard(key.fd)
        if pending is not None:
            proc.stdin.close()
    if not (readers or cap.truncated):  # it closed stdout and stderr: it may still be running
        cap.timed_out = not _wait_exit(proc, deadline)


def _wait_exit(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait, without reaping, until the process ends (True) or the deadline passes (False)."""
    pause = 0.001
    while not _exited(proc):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, POLL_S)
    return True


def _start_stdin(proc: subprocess.Popen, stdin: bytes, sel) -> memoryview | None:
    if not stdin:
        proc.stdin.close()
        return None
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
    return memoryview(stdin)


def _feed(proc: subprocess.Popen, pending: memoryview, sel) -> memoryview | None:
    """Write what the pipe takes now; None once all is written or the reader is gone."""
    try:
        pending = pending[os.write(proc.stdin.fileno(), pending[:CHUNK]):]
    except BlockingIOError:
        return pending
    except OSError:  # BrokenPipeError: the program closed stdin or ended
        pending = pending[:0]
    if pending:
        return pending
    sel.unregister(proc.stdin.fileno())
    proc.stdin.close()
    return None


def _read(fd: int, buf: bytearray, limit: int | None, cap: _Capture) -> bool:
    """Append what `fd` has to `buf` (up to `limit`; None: the status pipe); False at end of file."""
    data = os.read(fd, CHUNK)
    if not data:
        return False
    if limit is None:  # keep bwrap's first line (child-pid) and its last (exit-code), whatever comes between
        buf += data
        if len(buf) > 2 * STATUS_KEEP:
            del buf[STATUS_KEEP:-STATUS_KEEP]
        return True
    room = limit - len(buf)
    buf += data[:room] if room > 0 else b""
    cap.truncated = cap.truncated or len(data) > room
    return True


def _exited(proc: subprocess.Popen) -> bool:
    """The process has ended; it is not reaped (WNOWAIT), so its pid and process group stay valid."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _stop(proc: subprocess.Popen, cap: _Capture, uid: int | None, bwrap: bool) -> None:
    """Kill what is left of the job, reap it, and close our ends of its pipes."""
    fell_back = False
    if cap.timed_out or cap.truncated or cap.left_open or not _exited(proc):
        fell_back = not (bwrap and _kill_init(proc, _child_pid(cap.status), uid))
    if fell_back or not bwrap:
        _killpg(proc)  # bwrap's own exit means its namespace is empty; a plain command's group is not
    try:
        proc.wait(KILL_WAIT_S)
    except subprocess.TimeoutExpired:  # SIGKILLed and still there: stuck in the kernel
        log.error("sandbox: pid %d survived SIGKILL for %.0f s; not waiting for it", proc.pid, KILL_WAIT_S)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        pipe.close()
    if uid is not None and (fell_back or proc.returncode is None or proc.returncode < 0):
        procs.kill_uid(uid, KILL_WAIT_S)  # bwrap itself died: its namespace may still be dying


def _kill_init(proc: subprocess.Popen, child_pid: int | None, uid: int | None) -> bool:
    """SIGKILL the job's pid-namespace init and wait for bwrap to reap it and exit; False if that failed."""
    if child_pid is None or not procs.is_namespace_init(child_pid, os.getuid() if uid is None else uid):
        return False
    try:
        os.kill(child_pid, signal.SIGKILL)
    except OSError:
        return False
    return _wait_exit(proc, time.monotonic() + KILL_WAIT_S)


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # proc is not reaped yet, so the group id is still ours
    except OSError:
        pass


def _child_pid(status: bytes) -> int | None:
    """The host pid of the job's namespace init: the first "child-pid" line (written before the program runs)."""
    for line in bytes(status).splitlines():
        try:
            info = json.loads(line)
        except ValueError:
            continue
        if isinstance(info, dict) and "child-pid" in info:
            pid = info["child-pid"]
            return pid if isinstance(pid, int) and pid > 1 else None
    return None


def _result(rc: int | None, cap: _Capture, bwrap: bool, wall_s: float) -> ExecResult:
    if cap.timed_out:
        status, code = TIMEOUT, None
    elif cap.truncated:
        status, code = KILLED, None
    elif rc is None:  # could not be reaped (see _stop)
        status, code = SANDBOX_ERROR, None
    elif bwrap and b'"exit-code"' not in cap.status:  # bwrap reports the exit only of a program it started
        status, code = SANDBOX_ERROR, rc
    elif rc == 0:
        status, code = OK, 0
    elif rc < 0:
        status, code = KILLED, rc
    elif bwrap and 128 < rc <= 128 + 64:  # bwrap exits 128+N when its program died of signal N
        status, code = KILLED, 128 - rc
    else:
        status, code = ERROR, rc
    decode = lambda b: bytes(b).decode("utf-8", errors="replace")  # noqa: E731
    return ExecResult(status, code, decode(cap.out), decode(cap.err), cap.truncated, wall_s)
