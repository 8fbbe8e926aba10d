"""Hostile programs: each must be contained, answered in bounded time, leave no process behind and
leave the host unchanged. Limits are small (conftest.SMALL, overridden per test) to keep this fast."""

import os
import resource
import socket
import subprocess
import uuid

import pytest

from r1kit.sandbox import Limits

from .conftest import SMALL, assert_clean


FORK_LOOP = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


@pytest.fixture(autouse=True)
def no_leftovers(sandbox):
    yield
    assert_clean(sandbox)


def lines(result) -> list[str]:
    return result.stdout.splitlines()


def test_1_host_loopback_listener_unreachable_and_only_lo(sandbox):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"""
import socket
for host in ("127.0.0.1", "localhost", "::1"):
    try:
        socket.create_connection((host, {port}), timeout=2).close()
        print("connected", host)
    except OSError as e:
        print("failed", host, type(e).__name__)
print(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]))
"""
        r = sandbox.run_python(code)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever reached the host listener
    assert r.ok and r.wall_s < 5, r
    assert all(line.startswith("failed") for line in lines(r)[:3]), r.stdout
    assert lines(r)[3] == "['lo']"


def test_2_root_only_file_and_shadow_unreadable(sandbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    os.chmod(secret, 0o600)
    os.chmod(tmp_path, 0o755)  # even with the directory open to all
    paths = [str(secret), "/etc/shadow", "/etc/passwd", "/root", "/proc/1/root/etc/shadow", "/sys/class/net"]
    code = f"""
import os
for p in {paths!r}:
    try:
        print(p, "READ", open(p).read() if os.path.isfile(p) else os.listdir(p))
    except OSError as e:
        print(p, type(e).__name__)
"""
    r = sandbox.run_python(code)
    assert r.ok and r.wall_s < 5
    assert "READ" not in r.stdout and "TOPSECRET" not in r.stdout, r.stdout
    assert all(line.endswith("FileNotFoundError") for line in lines(r)), r.stdout  # not even visible


def test_3_writes_outside_fail_and_host_is_unchanged(sandbox, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    os.chmod(tmp_path, 0o777)
    mark = f"r1kit-hostile-{uuid.uuid4().hex}"
    targets = ["/job/main.py", f"/job/{mark}", f"/usr/{mark}", f"/{mark}", f"/dev/{mark}", str(victim),
               "/usr/bin/python3", "/proc/sys/kernel/hostname"]
    code = f"""
import os
for p in {targets!r} + ["/tmp/{mark}"]:
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666))  # no truncation, ever
        print(p, "WROTE")
    except OSError as e:
        print(p, type(e).__name__)
"""
    r = sandbox.run_python(code)
    assert r.ok and r.wall_s < 5
    assert lines(r)[-1] == f"/tmp/{mark} WROTE"  # its private /tmp is writable
    assert "WROTE" not in "\n".join(lines(r)[:-1]), r.stdout
    assert victim.read_text() == "original"
    for host_path in (f"/usr/{mark}", f"/{mark}", f"/tmp/{mark}", f"/dev/{mark}"):
        assert not os.path.exists(host_path)


def test_3b_private_tmp_is_size_capped(sandbox):
    code = """
written = 0
try:
    for i in range(64):
        with open(f"/tmp/f{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
        written += 1
except OSError as e:
    print(type(e).__name__, e.errno)
print(written)
"""
    r = sandbox.run_python(code, limits=Limits(tmp_mb=8))
    assert r.ok and int(lines(r)[-1]) <= 8 and "OSError" in r.stdout


def test_4_remount_read_write_and_new_namespaces_fail(sandbox):
    code = """
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
r = subprocess.run(["mount", "-o", "remount,rw", "/usr"], capture_output=True)
print("mount-cmd", r.returncode)
MS_REMOUNT, MS_BIND = 32, 4096
print("mount-syscall", libc.mount(b"none", b"/usr", None, MS_REMOUNT | MS_BIND, None), ctypes.get_errno())
print("mount-tmpfs", libc.mount(b"none", b"/usr", b"tmpfs", 0, None), ctypes.get_errno())
print("unshare-user", libc.unshare(0x10000000), ctypes.get_errno())
print("unshare-mnt", libc.unshare(0x00020000), ctypes.get_errno())
try:
    open("/usr/r1kit-remount-probe", "w")
    print("usr WROTE")
except OSError as e:
    print("usr", type(e).__name__)
"""
    r = sandbox.run_python(code)
    assert r.ok and r.wall_s < 5, r
    out = dict(line.split(" ", 1) for line in lines(r))
    assert out["mount-cmd"] != "0"
    for call in ("mount-syscall", "mount-tmpfs", "unshare-user", "unshare-mnt"):
        assert out[call].split()[0] == "-1", (call, out[call])
    assert out["usr"] != "WROTE"
    assert not os.path.exists("/usr/r1kit-remount-probe")


def test_5_fork_bomb_is_stopped_by_nproc(sandbox):
    code = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(100)
            os._exit(0)
        n += 1
except OSError as e:
    print("stopped", n, e.errno, flush=True)
time.sleep(100)
"""
    r = sandbox.run_python(code, limits=Limits(wall_s=1.5, nproc=32))
    assert r.status == "timeout" and r.wall_s < 1.5 + 3
    word, n, errno = lines(r)[0].split()
    assert word == "stopped" and int(n) < 32 and errno == "11"  # EAGAIN: RLIMIT_NPROC


def test_5b_classic_fork_bomb(sandbox):
    r = sandbox.run_python(FORK_LOOP, limits=Limits(wall_s=1.5, nproc=32))
    assert r.status in ("timeout", "killed") and r.wall_s < 1.5 + 3


@pytest.mark.parametrize("code", [
    "x = bytearray(10 * 1024 ** 3)",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))",
])
def test_6_memory_bomb(sandbox, code):
    r = sandbox.run_python(code, limits=Limits(memory_mb=512, wall_s=5))
    assert r.status in ("error", "killed") and r.wall_s < 5, r
    assert r.status == "killed" or "MemoryError" in r.stderr


def test_7_busy_loop_killed_by_cpu_limit(sandbox):
    r = sandbox.run_python("while True:\n    pass", limits=Limits(cpu_s=1, wall_s=10))
    assert (r.status, r.exit_code) == ("killed", -9) and r.wall_s < 1 + 3, r


def test_8_sleep_forever_times_out(sandbox):
    r = sandbox.run_python("import time\nwhile True:\n    time.sleep(1000)", limits=Limits(wall_s=1.0))
    assert r.status == "timeout" and r.exit_code is None and 1.0 <= r.wall_s < 1.0 + 2, r


def test_9_killing_parent_and_everything_is_harmless(sandbox):
    victim = subprocess.Popen(["sleep", "60"])  # a host process the program tries to kill by pid
    try:
        code = f"""
import os
if os.fork() == 0:  # a child kills its parent (the namespace's pid 1) and everything it can
    for target in (os.getppid(), 1, -1):
        try:
            os.kill(target, 9)
        except OSError:
            pass
    os._exit(0)
os.wait()
for target in (os.getppid(), {victim.pid}, {os.getpid()}, 1, -1):
    try:
        os.kill(target, 9)
        print(target, "sent")
    except OSError as e:
        print(target, type(e).__name__)
print("alive")
"""
        r = sandbox.run_python(code)
        assert r.wall_s < 5 and r.status in ("ok", "error", "killed"), r
        assert victim.poll() is None  # the host process lived
    finally:
        victim.kill()
        victim.wait()
    assert sandbox.run_python("print('next')").stdout == "next\n"  # the runner is fine


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_10_printing_a_gigabyte_is_cut_at_the_cap(sandbox, stream):
    code = f"import sys\ns = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.{stream}.write(s)"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    r = sandbox.run_python(code, limits=Limits(output_bytes=1 << 20, wall_s=10))
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert r.truncated and r.status == "killed" and len(getattr(r, stream)) == 1 << 20
    assert r.wall_s < 3 and rss_growth_mib < 64, (r.wall_s, rss_growth_mib)


def test_11_detached_daemon_is_killed_with_the_job(sandbox):
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)  # a daemon holding stdout and stderr open
    os._exit(0)
os.wait()
print("parent done")
"""
    r = sandbox.run_python(code, limits=Limits(wall_s=10))
    assert r.ok and r.stdout == "parent done\n" and r.wall_s < 2, r
    # no_leftovers checks (with no grace period) that the daemon is gone


def test_concurrent_hostile_jobs_stay_apart(sandbox):
    jobs = [
        {"code": "import time\nwhile True:\n    time.sleep(1)", "limits": Limits(wall_s=1.0)},
        {"code": FORK_LOOP.replace("pass", "time.sleep(0.01)"), "limits": Limits(wall_s=1.0, nproc=16)},
        {"code": "print('fine')"},
        {"code": "import sys\nwhile True:\n    sys.stdout.write('y' * 4096)"},
    ]
    results = sandbox.run_many(jobs)
    assert [r.status for r in results] == ["timeout", "timeout", "ok", "killed"], results
    assert results[2].stdout == "fine\n" and results[3].truncated and len(results[3].stdout) == SMALL.output_bytes
