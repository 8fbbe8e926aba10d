"""benchmarks/gpu_speed.py on CPU: the `--device cpu --tiny` path end to end (both tables, finite positive numbers,
FLOPs that add up), the MFU arithmetic and the GPU peak table by hand, and the one-line errors (exit 2)."""

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_speed.py"
TINY_ARGS = ["--device", "cpu", "--tiny", "--batches", "1,2", "--new-tokens", "4", "--prompts", "2", "--group", "2",
             "--micro-batch", "2", "--repeats", "1", "--steps", "1", "--peak-sizes", "128", "--threads", "1"]


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("gpu_speed")


def table(lines: list[str], first_cell: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header row starts with `first_cell`: {first cell: other cells}."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_cell} |"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def number(cell: str) -> float:
    return float(cell.rstrip("x%"))


def test_tiny_cpu_end_to_end(bench, capsys, one_thread):
    """Both tables with their rows; every rate and MFU finite and > 0; ratio columns = r1kit / generate; the step's
    FLOPs the sum of its phases, the update ~3x the reference forward (forward + backward of the same rows)."""
    t0 = time.perf_counter()
    assert bench.main(TINY_ARGS) == 0
    elapsed = time.perf_counter() - t0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device: cpu") and "torch " in lines[0] and "transformers " in lines[0]
    rollout = table(lines, "batch")
    assert list(rollout) == ["1", "2"]
    for cells in rollout.values():
        gen, plain, mixed, r_plain, r_mixed = map(number, cells)
        assert all(math.isfinite(v) and v > 0 for v in (gen, plain, mixed, r_plain, r_mixed))
        assert r_plain == pytest.approx(plain / gen, rel=0.02, abs=0.01)
        assert r_mixed == pytest.approx(mixed / gen, rel=0.02, abs=0.01)
    mfu = table(lines, "phase")
    assert list(mfu) == ["rollout", "reference", "update", "other", "step"]
    for phase in ("rollout", "reference", "update", "step"):
        gflop, seconds, tflops, pct = map(number, mfu[phase])
        assert all(math.isfinite(v) and v > 0 for v in (gflop, seconds, tflops, pct)), (phase, mfu[phase])
    gflop = {p: number(c[0]) for p, c in mfu.items()}
    assert gflop["other"] == 0  # rewards and advantages run no matmuls
    assert gflop["step"] == pytest.approx(gflop["rollout"] + gflop["reference"] + gflop["update"], abs=0.02)
    assert 2.5 <= gflop["update"] / gflop["reference"] <= 3.5
    seconds = {p: number(c[1]) for p, c in mfu.items()}  # one timed step: its phases add up to it
    assert seconds["step"] == pytest.approx(sum(v for p, v in seconds.items() if p != "step"), abs=5e-4)
    assert any(line.startswith("peak: measured bf16 torch.mm") for line in lines)
    assert sum("peak RSS" in line for line in lines) == 2
    assert elapsed < 30, f"the tiny CPU path took {elapsed:.1f} s"


def test_mfu_rows_hand_computed(bench):
    """MFU = counted FLOP / median seconds / peak, per phase; the step's FLOP is the sum, its time its own median."""
    res = {"times": [{"rollout": 2.0, "reference": 1.0, "update": 4.0, "other": 1.0, "step": 8.0},
                     {"rollout": 4.0, "reference": 1.0, "update": 2.0, "other": 1.0, "step": 8.0},
                     {"rollout": 3.0, "reference": 3.0, "update": 3.0, "other": 1.0, "step": 10.0}],
           "flops": {"rollout": 3e12, "reference": 1e12, "update": 6e12, "other": 0}}
    rows = {r["phase"]: r for r in bench.mfu_rows(res, peak=1e12)}
    assert rows["rollout"]["seconds"] == 3.0 and rows["rollout"]["rate"] == pytest.approx(1e12)
    assert rows["rollout"]["mfu"] == pytest.approx(1.0)
    assert rows["reference"]["mfu"] == pytest.approx(1.0)        # 1e12 / median(1, 1, 3) = 1 s
    assert rows["update"]["mfu"] == pytest.approx(2.0)           # 6e12 / 3 s / 1e12
    assert rows["other"]["mfu"] == 0.0
    assert rows["step"]["flop"] == 10e12 and rows["step"]["mfu"] == pytest.approx(10 / 8)
    assert bench.mfu_rows(res, peak=None)[0]["mfu"] is None      # unknown GPU, no --peak-tflops: no MFU


@pytest.mark.parametrize("name, tflops", [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0),
                                          ("NVIDIA H200", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                          ("NVIDIA A100 80GB PCIe", 312.0), ("NVIDIA H100 NVL", 835.0),
                                          ("Tesla T4", None)])
def test_peak_by_device_name(bench, name, tflops):
    assert bench.table_peak(name) == tflops


def test_peak_tflops_flag_overrides(bench):
    args = bench.parse_args(["--device", "cpu", "--peak-tflops", "100"])
    assert bench.peak_flops(args) == (100e12, "--peak-tflops 100")


def test_no_cuda_is_one_line_exit_2():
    """The real command line where torch sees no GPU (this CI machine; elsewhere CUDA_VISIBLE_DEVICES hides it)."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda"], capture_output=True, text=True,
                          env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --device cuda: no CUDA device") and done.stderr.count("\n") == 1
    assert done.stdout == ""


@pytest.mark.parametrize("argv, message", [(["--device", "tpu"], "--device must be cuda, cuda:N or cpu"),
                                           (["--device", "cpu", "--batches", "1,x"], "--batches must be"),
                                           (["--device", "cpu", "--batches", "0"], "--batches must be"),
                                           (["--device", "cpu", "--steps", "0"], "--new-tokens, --repeats, --steps")])
def test_bad_input_is_one_line_exit_2(bench, capsys, argv, message):
    assert bench.main(argv) == 2
    out = capsys.readouterr()
    assert out.err.startswith(f"error: {message}") and out.err.count("\n") == 1 and out.out == ""
