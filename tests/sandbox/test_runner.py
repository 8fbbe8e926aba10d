"""The runner on plain commands (no bwrap needed): stdin, capped output, deadline, group kill, statuses."""

import os
import sys
import time

import pytest

from r1kit.sandbox.limits import Limits
from r1kit.sandbox.runner import STATUS_KEEP, Command, _Capture, _child_pid, _read, _result, execute

ENV = {"PATH": "/usr/bin:/bin"}


def py(code: str, stdin: bytes = b"", **limits) -> object:
    return execute(Command([sys.executable, "-c", code], cwd="/", env=ENV), stdin, Limits(**limits))


def test_large_stdin_is_fed_while_output_is_read():
    data = os.urandom(3 << 19).hex().encode()  # 3 MiB, far past the 64 KiB pipe buffers, both ways at once
    echo = "import sys\nwhile chunk := sys.stdin.buffer.read1(65536):\n    sys.stdout.buffer.write(chunk)"
    r = py(echo, data, output_bytes=4 << 20)
    assert r.status == "ok" and r.stdout.encode() == data and not r.truncated


def test_stdin_never_read_does_not_block():
    r = py("print('done')", os.urandom(1 << 20), wall_s=5)
    assert r.status == "ok" and r.stdout == "done\n" and r.wall_s < 2


def test_output_at_cap_is_kept_and_past_it_kills():
    at = py("import sys; sys.stdout.write('x' * 1000)", output_bytes=1000)
    assert at.status == "ok" and at.stdout == "x" * 1000 and not at.truncated
    past = py("import sys, time; sys.stdout.write('x' * 1001); sys.stdout.flush(); time.sleep(30)",
              output_bytes=1000, wall_s=10)
    assert past.status == "killed" and past.truncated and past.stdout == "x" * 1000 and past.wall_s < 3
    err = py("import sys; sys.stderr.write('e' * 5000)", output_bytes=100)
    assert err.truncated and err.stderr == "e" * 100


def test_invalid_utf8_is_replaced():
    r = py(r"import sys; sys.stdout.buffer.write(b'ok \xff\xfe \xc3'); sys.stderr.buffer.write(b'\x80')")
    assert r.status == "ok" and r.stdout == "ok \ufffd\ufffd \ufffd" and r.stderr == "\ufffd"


def test_deadline_gives_timeout():
    t0 = time.monotonic()
    r = py("import time; time.sleep(60)", wall_s=0.5)
    assert r.status == "timeout" and r.exit_code is None and 0.5 <= r.wall_s < 2 and time.monotonic() - t0 < 2


def test_child_holding_the_pipes_is_killed_with_the_group():
    code = ("import os, sys, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\n    os._exit(0)\n"
            "print(pid, flush=True)")
    r = py(code, wall_s=10)
    assert r.status == "ok" and r.wall_s < 2
    child = int(r.stdout)
    time.sleep(0.2)  # the orphan is reaped by init
    assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]


def test_closing_stdout_and_stderr_does_not_end_the_run():
    code = "import os, sys, time\nprint('bye', flush=True)\nos.close(1)\nos.close(2)\ntime.sleep({})\nsys.exit(4)"
    r = py(code.format(0.5), wall_s=5)
    assert (r.status, r.exit_code, r.stdout) == ("error", 4, "bye\n") and r.wall_s >= 0.5
    r = py(code.format(60), wall_s=0.5)
    assert r.status == "timeout" and r.wall_s < 2


def test_plain_command_leaves_nothing_in_its_process_group():
    r = py("import os, time\nif os.fork() == 0:\n    os.close(1)\n    os.close(2)\n    time.sleep(60)\n"
           "else:\n    print(os.getpid())")
    time.sleep(0.2)
    assert r.ok and _gone_or_zombie_group(int(r.stdout))


def _gone_or_zombie_group(pgid: int) -> bool:
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def test_unstartable_command_is_a_sandbox_error_not_an_exception():
    r = execute(Command(["/nonexistent/prog"], cwd="/", env=ENV), b"", Limits())
    assert r.status == "sandbox_error" and "cannot start" in r.stderr


@pytest.mark.parametrize("rc, cap, bwrap, status, code", [
    (0, {}, False, "ok", 0),
    (3, {}, False, "error", 3),
    (-9, {}, False, "killed", -9),
    (137, {}, False, "error", 137),  # a plain command's 137 is its exit status
    (137, {"status": b'{"child-pid": 5}\n{ "exit-code": 137 }\n'}, True, "killed", -9),
    (152, {"status": b'{ "exit-code": 152 }\n'}, True, "killed", -24),
    (1, {"status": b'{"child-pid": 5}\n{ "exit-code": 1 }\n'}, True, "error", 1),
    (1, {"status": b'{"child-pid": 5}\n'}, True, "sandbox_error", 1),  # bwrap failed before the program ran
    (-9, {"timed_out": True}, True, "timeout", None),
    (-9, {"truncated": True}, False, "killed", None),
])
def test_result_status(rc, cap, bwrap, status, code):
    cap = _Capture(status=bytearray(cap.pop("status", b"")), **cap)
    r = _result(rc, cap, bwrap, 0.1)
    assert (r.status, r.exit_code, r.ok) == (status, code, status == "ok")


def test_child_pid_is_the_first_status_line_only():
    assert _child_pid(b'{ "child-pid": 4242, "pid-namespace": 1 }\n{"child-pid": 1}\n') == 4242
    assert _child_pid(b'junk\n{"child-pid": 1}\n') is None
    assert _child_pid(b"") is None


def test_status_pipe_keeps_first_and_last_lines_of_junk():
    r, w = os.pipe()
    buf, cap = bytearray(), _Capture()
    os.write(w, b'{ "child-pid": 7 }\n')
    assert _read(r, buf, None, cap)
    for _ in range(40):
        os.write(w, b"j" * 4096)
        _read(r, buf, None, cap)
    os.write(w, b'{ "exit-code": 0 }\n')
    os.close(w)
    while _read(r, buf, None, cap):
        pass
    os.close(r)
    assert len(buf) <= 2 * STATUS_KEEP + 4096
    assert _child_pid(buf) == 7 and buf.endswith(b'{ "exit-code": 0 }\n') and not cap.truncated
