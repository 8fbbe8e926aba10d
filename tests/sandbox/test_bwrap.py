"""The bwrap command line: what is mounted, in what order, and what is not."""

import os

from r1kit.sandbox.bwrap import ENV, JOB_DIR, bwrap_argv, system_dirs
from r1kit.sandbox.limits import MIB, Limits


def _argv(**limits):
    return bwrap_argv("/usr/bin/bwrap", ["python3", "main.py"], "/tmp/jobdir", Limits(**limits), status_fd=7)


def test_privileges_and_namespaces():
    argv = _argv()
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--new-session", "--die-with-parent",
                 "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--json-status-fd") + 1] == "7"


def test_host_trees_exposed_are_only_usr_and_the_job():
    argv = _argv()
    for opt in ("--bind", "--dev-bind", "--bind-try"):
        assert opt not in argv  # nothing read-write from the host
    binds = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--ro-bind"]
    assert ("/usr", "/usr") in binds and ("/tmp/jobdir", JOB_DIR) in binds
    assert all(src == "/usr" or src == "/tmp/jobdir" or src.startswith("/lib") or src.endswith("bin")
               for src, _ in binds)
    assert not any(p in argv for p in ("/sys", "/etc", "/root", "/home", "/var", "/opt"))


def test_tmpfs_sizes_and_read_only_root_last():
    argv = _argv(tmp_mb=8)
    for mount in ("/tmp", "/dev/shm"):
        i = argv.index(mount)
        assert argv[i - 1] == "--tmpfs" and argv[i - 3:i - 1] == ["--size", str(8 * MIB)]
    mounts = [i for i, a in enumerate(argv) if a in ("--ro-bind", "--tmpfs", "--proc", "--dev", "--symlink")]
    assert argv.index("--remount-ro") > argv.index("--dev")
    assert len(argv) - argv[::-1].index("--remount-ro") - 1 > max(mounts)  # "/" read-only after all mounts


def test_environment_is_fixed_and_command_follows_separator():
    argv = _argv()
    env = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "--setenv"}
    assert env == ENV and env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/tmp"
    assert argv.index("--clearenv") < argv.index("--setenv")
    assert argv[-3:] == ["--", "python3", "main.py"]


def test_system_dirs_mirror_merged_and_split_usr(tmp_path):
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    os.symlink("usr/bin", tmp_path / "bin")
    (tmp_path / "lib").mkdir()  # a split-usr /lib: bound read-only
    assert system_dirs(str(tmp_path)) == ["--symlink", "usr/bin", "/bin", "--ro-bind", str(tmp_path / "lib"), "/lib"]
