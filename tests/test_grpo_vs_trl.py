"""benchmarks/grpo_vs_trl.py on a tiny model: one r1kit GRPO step and one TRL GRPOTrainer step with the same
settings, prompts and reward. Needs the `bench` extra (trl); skipped without it (CI does not install it)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_vs_trl.py"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("grpo_vs_trl")


def test_hash_reward_is_spread_and_deterministic(bench):
    """The shared reward: a pure function of the text, in [0, 1), different texts mostly differ."""
    texts = [f"completion {i}" for i in range(50)]
    values = [bench.hash_reward(t) for t in texts]
    assert values == [bench.hash_reward(t) for t in texts]
    assert all(0.0 <= v < 1.0 for v in values) and len(set(values)) > 40
    assert bench.hash_reward("abc") == (__import__("zlib").crc32(b"abc") % 1000) / 1000.0


def test_one_step_each_same_settings(bench, tmp_path, one_thread):
    """A hidden-64, 2-layer Qwen2: both take one step in the matched settings (32 completions of 64 tokens over
    the same 4 problems, identical prompt ids) and report a finite step time."""
    pytest.importorskip("trl", reason="trl not installed (the optional bench extra: pip install -e '.[bench]')")
    s = bench.SETTINGS
    model_dir = bench.build_model_dir(64, 2, tmp_path / "model")
    prompts, problems = bench.shared_prompts(model_dir, s)
    assert len(prompts) == s["prompts"] and bench.same_prompt_ids(model_dir, prompts)
    ours = bench.time_r1kit(s, model_dir, tmp_path / "r1kit", "fp32", warmup=0, steps=1, threads=1)
    theirs = bench.time_trl(s, model_dir, tmp_path / "trl", "fp32", warmup=0, steps=1, threads=1)
    for res in (ours, theirs):
        assert len(res["step_times"]) == 1 and math.isfinite(res["step_times"][0]) and res["step_times"][0] > 0
        assert res["completions_per_step"] == s["prompts"] * s["group_size"] == 32
        assert res["tokens_per_completion"] == s["new_tokens"]  # eos never ends a row on either side
        assert res["problems"] == sorted(problems)
    assert ours["settings"] == theirs["settings"]
    assert ours["settings"]["completions_per_step"] == 32 and ours["settings"]["micro_batch"] == 8
    assert ours["settings"]["beta"] == 0.04 and ours["settings"]["updates_per_batch"] == 1


def test_missing_trl_is_one_line(tmp_path):
    """Without trl the script stops with one clear line (trl hidden by a module that fails to import)."""
    (tmp_path / "trl.py").write_text("raise ImportError('hidden for the test')\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--model", "4m"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ['error: trl is not installed; this benchmark needs the bench extra: '
                                                'pip install -e ".[bench]"']
