"""Limits validation and the prlimit prefix."""

import pytest

from r1kit.sandbox.limits import MIB, Limits, prlimit_argv


def test_defaults_match_the_documented_values():
    assert Limits() == Limits(wall_s=10.0, cpu_s=5, memory_mb=1024, nproc=64, fsize_mb=16, nofile=64, tmp_mb=64,
                              output_bytes=1 << 20)


@pytest.mark.parametrize("field, value", [
    ("wall_s", 0), ("wall_s", -1.0), ("wall_s", float("inf")), ("wall_s", float("nan")), ("wall_s", "5"),
    ("cpu_s", 0), ("cpu_s", 1.5), ("cpu_s", True), ("memory_mb", 8), ("nproc", 2), ("nofile", 4),
    ("tmp_mb", 0), ("output_bytes", 0), ("fsize_mb", None),
])
def test_bad_values_raise(field, value):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})


def test_prlimit_argv_sets_every_limit_in_bytes():
    argv = prlimit_argv("/usr/bin/prlimit", Limits(cpu_s=3, memory_mb=100, nproc=10, fsize_mb=2, nofile=20),
                        nproc_extra=5)
    assert argv == ["/usr/bin/prlimit", "--cpu=3:3", f"--as={100 * MIB}", "--nproc=15", f"--fsize={2 * MIB}",
                    "--nofile=20", "--core=0", "--"]
