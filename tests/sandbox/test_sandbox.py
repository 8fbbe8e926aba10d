"""Sandbox: plain behaviour, argument checking, parallel runs, unsafe_local mode."""

import logging
import os
import shutil
import time

import pytest

from r1kit.sandbox import ExecResult, Limits, Sandbox, SandboxUnavailable

from .conftest import SMALL, UID_BASE


def test_hello_world(sandbox, clean):
    r = sandbox.run_python("print('hello, world')")
    assert isinstance(r, ExecResult) and r.ok and r.status == "ok"
    assert (r.exit_code, r.stdout, r.stderr, r.truncated) == (0, "hello, world\n", "", False)
    clean(sandbox)


@pytest.mark.parametrize("stdin", ["3 4\n", b"3 4\n"])
def test_stdin(sandbox, stdin):
    r = sandbox.run_python("a, b = map(int, input().split()); print(a * b)", stdin=stdin)
    assert r.ok and r.stdout == "12\n"


def test_nonzero_exit_is_error(sandbox):
    r = sandbox.run_python("import sys; print('oops', file=sys.stderr); sys.exit(3)")
    assert (r.status, r.exit_code, r.stderr, r.ok) == ("error", 3, "oops\n", False)
    r = sandbox.run_python("raise ValueError('bad')")
    assert r.status == "error" and r.exit_code == 1 and "ValueError: bad" in r.stderr


def test_files_are_visible_and_importable(sandbox, clean):
    files = {"helper.py": "def f(x):\n    return x + 1\n", "data/in.bin": b"\x00\x01", "pkg/__init__.py": ""}
    code = "import helper, pkg\nprint(helper.f(1), open('data/in.bin', 'rb').read())"
    r = sandbox.run_python(code, files=files)
    assert r.ok and r.stdout == "2 b'\\x00\\x01'\n"
    clean(sandbox)


def test_invalid_utf8_output_is_replaced(sandbox):
    r = sandbox.run_python(r"import sys; sys.stdout.buffer.write(b'a\xffb'); sys.stderr.buffer.write(b'\xc3(')")
    assert r.ok and r.stdout == "a\ufffdb" and r.stderr == "\ufffd("


def test_surroundings_inside(sandbox):
    r = sandbox.run(["sh", "-c", "pwd; echo $HOME; ls /"])
    assert r.ok and r.stdout.split("\n")[:2] == ["/job", "/tmp"]
    assert set(r.stdout.split("\n")[2:-1]) == {"bin", "dev", "job", "lib", "lib64", "proc", "sbin", "tmp", "usr"}
    env = sandbox.run_python("import os; print(sorted(os.environ))")
    assert eval(env.stdout) == ["HOME", "LANG", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED"]


def test_per_run_limits_override_the_default(sandbox):
    r = sandbox.run_python("import time; time.sleep(10)", limits=Limits(wall_s=0.3))
    assert r.status == "timeout" and r.wall_s < 2


def test_run_many_keeps_order_and_runs_workers_at_once(sandbox, clean):
    jobs = [{"code": f"import os, time; time.sleep(0.5); print({i}, os.getuid())"} for i in range(4)]
    t0 = time.monotonic()
    results = sandbox.run_many(jobs)
    elapsed = time.monotonic() - t0
    assert [r.stdout.split()[0] for r in results] == ["0", "1", "2", "3"] and all(r.ok for r in results)
    assert elapsed < 1.5, f"4 jobs of 0.5 s with 4 workers took {elapsed:.2f} s"
    if os.geteuid() == 0:  # each concurrent job had its own host uid
        assert {int(r.stdout.split()[1]) for r in results} == set(range(UID_BASE, UID_BASE + 4))
    many = sandbox.run_many([{"code": f"print({i})", "stdin": "", "files": None, "limits": SMALL}
                             for i in range(10)])
    assert [r.stdout for r in many] == [f"{i}\n" for i in range(10)]
    assert sandbox.run_many([]) == []
    clean(sandbox)


@pytest.mark.parametrize("call, error", [
    (lambda sb: sb.run_python(b"print(1)"), TypeError),
    (lambda sb: sb.run_python("1", files={"../x": "a"}), ValueError),
    (lambda sb: sb.run_python("1", files={"/etc/x": "a"}), ValueError),
    (lambda sb: sb.run_python("1", files={"main.py": "a"}), ValueError),
    (lambda sb: sb.run_python("1", files={"a": "x", "a/b": "y"}), ValueError),
    (lambda sb: sb.run_python("1", files={"a": 1}), TypeError),
    (lambda sb: sb.run_python("1", limits={"wall_s": 1}), TypeError),
    (lambda sb: sb.run_python("1", stdin=5), TypeError),
    (lambda sb: sb.run([]), TypeError),
    (lambda sb: sb.run("python3 -c 1"), TypeError),
    (lambda sb: sb.run_many([{"code": "1", "timeout": 5}]), ValueError),
    (lambda sb: sb.run_many([{"stdin": "1"}]), ValueError),
])
def test_caller_mistakes_raise(sandbox, call, error):
    with pytest.raises(error):
        call(sandbox)


def test_close_is_idempotent_and_refuses_new_runs(bwrap):
    sb = Sandbox(SMALL, workers=1, uid_base=UID_BASE)
    root = sb._root
    assert sb.run_python("print(1)").ok
    sb.close()
    sb.close()
    assert not os.path.exists(root)
    with pytest.raises(RuntimeError, match="closed"):
        sb.run_python("print(1)")


def test_bad_interpreter_refuses_to_start(bwrap):
    with pytest.raises(SandboxUnavailable, match="not usable inside the sandbox"):
        Sandbox(python="/opt/nowhere/python3", uid_base=UID_BASE)


def _path_without_bwrap(tmp_path) -> str:
    os.symlink(shutil.which("prlimit"), tmp_path / "prlimit")
    return str(tmp_path)


def test_without_bwrap_start_fails_unless_unsafe_local(monkeypatch, tmp_path, caplog):
    from r1kit.sandbox import selftest

    monkeypatch.setattr(selftest, "_passed", set())
    monkeypatch.setenv("PATH", _path_without_bwrap(tmp_path))
    with pytest.raises(SandboxUnavailable, match="bwrap not on PATH"):
        Sandbox(uid_base=UID_BASE)
    with caplog.at_level(logging.WARNING, logger="r1kit.sandbox"):
        sb = Sandbox(SMALL, workers=2, unsafe_local=True)
    assert "UNSAFE" in caplog.text
    with sb:
        assert sb.run_python("import os; print(os.getcwd() != '/job')").stdout == "True\n"
        assert sb.run_python("import time; time.sleep(10)", limits=Limits(wall_s=0.3)).status == "timeout"
        spin = sb.run_python("while True: pass", limits=Limits(cpu_s=1, wall_s=5))
        assert spin.status == "killed" and spin.exit_code in (-24, -9)
        flood = sb.run_python("while True: print('x' * 1000)")
        assert flood.truncated and len(flood.stdout) == SMALL.output_bytes
        assert [r.stdout for r in sb.run_many([{"code": f"print({i})"} for i in range(3)])] == ["0\n", "1\n", "2\n"]
        root = sb._root
        assert os.listdir(root) == []
