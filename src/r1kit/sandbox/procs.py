"""Finding and killing processes through /proc, by real uid or by pid-namespace init.

Used to make sure a job leaves nothing behind. Real uids come from /proc/PID/status, not from the
owner of /proc/PID (a process that makes itself non-dumpable shows up as owned by root there).
"""

from __future__ import annotations

import os
import signal
import time


def _status(pid: int | str) -> dict[str, str]:
    """The fields of /proc/PID/status as strings; {} if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _real_uid(status: dict[str, str]) -> int | None:
    uid = status.get("Uid", "").split()
    return int(uid[0]) if uid else None


def pids_of_uid(uid: int, include_zombies: bool = False) -> list[int]:
    """Pids of the processes whose real uid is `uid` (zombies left out unless asked for)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        status = _status(name)
        if _real_uid(status) == uid and (include_zombies or not status.get("State", "").startswith("Z")):
            found.append(int(name))
    return found


def user_process_count(uid: int) -> int:
    """How many processes (zombies included: they count against RLIMIT_NPROC) `uid` has now."""
    return len(pids_of_uid(uid, include_zombies=True))


def is_namespace_init(pid: int, uid: int | None) -> bool:
    """`pid` is alive, is pid 1 of its own pid namespace, and (if given) has real uid `uid`."""
    status = _status(pid)
    nspid = status.get("NSpid", "").split()
    alive = bool(status) and not status.get("State", "").startswith("Z")
    return alive and len(nspid) > 1 and nspid[-1] == "1" and (uid is None or _real_uid(status) == uid)


def kill_uid(uid: int, timeout_s: float = 5.0) -> bool:
    """SIGKILL every live process of `uid` until none is left; False if some survive `timeout_s`.

    Only for a uid that belongs to the sandbox alone (see `uids`); needs root.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        pids = pids_of_uid(uid)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # gone already
                pass
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
