"""What a sandboxed run returns (`ExecResult`), and the error for a sandbox that cannot start.

Everything a program does, however hostile, ends as an `ExecResult`; only a missing or broken
sandbox (`SandboxUnavailable`, raised when a `Sandbox` starts) and caller mistakes raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1kit.errors import R1kitError

OK, ERROR, TIMEOUT, KILLED, SANDBOX_ERROR = "ok", "error", "timeout", "killed", "sandbox_error"


class SandboxUnavailable(R1kitError):
    """bwrap is missing, or the sandbox's self-test failed; the message is one line naming what failed."""


@dataclass
class ExecResult:
    """The outcome of one run.

    status: "ok" (exit 0), "error" (non-zero exit), "timeout" (killed at the wall deadline),
    "killed" (ended by a signal: CPU limit, SIGKILL, output past its cap, ...) or "sandbox_error"
    (bwrap itself failed before the program started; stderr says why).
    exit_code: the exit status; -N for death by signal N (under bwrap an exit status 128+N is read
    as signal N, since bwrap reports a signal that way); None for "timeout" and for an output-cap kill.
    """

    status: str
    exit_code: int | None
    stdout: str
    """Captured stdout, decoded as UTF-8 with errors="replace", at most `Limits.output_bytes` bytes."""
    stderr: str
    """Captured stderr, as stdout."""
    truncated: bool
    """A stream passed `Limits.output_bytes`: the job was killed there (status "killed")."""
    wall_s: float
    """Seconds from spawn to the job's last process reaped."""

    @property
    def ok(self) -> bool:
        """The program exited with status 0 in time."""
        return self.status == OK
