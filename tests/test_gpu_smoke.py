"""benchmarks/gpu_smoke.py on CPU: the model shapes (Qwen2.5-0.5B's parameter count, the tiny one's by hand),
the throughput arithmetic on a hand-written metrics.jsonl, and the --tiny path end to end (torchrun, fsdp2,
bf16, gloo) in under a minute."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_smoke.py"


@pytest.fixture(scope="module")
def smoke():
    return load_benchmark("gpu_smoke")


def test_full_shape_is_qwen25_05b(smoke, one_thread):
    """Built on the meta device (no memory): 494,032,768 parameters, Qwen2.5-0.5B's count (tied embeddings)."""
    import torch
    from transformers import AutoModelForCausalLM

    from r1kit.models.tiny import model_config
    from r1kit.models.tokenizer import build_tokenizer

    config = model_config("qwen2", "tiny", build_tokenizer(), **smoke.QWEN25_05B, vocab_size=smoke.QWEN_VOCAB)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == 494_032_768


def test_tiny_model_parameter_count(smoke, tmp_path, one_thread):
    folder, n = smoke.build_model(tmp_path / "m", tiny=True)
    # embeddings 151936 x 64 (tied); per layer q 64x64+64, k and v 64x32+32, o 64x64, MLP 3 x 64x128,
    # two norms of 64; final norm 64
    per_layer = (64 * 64 + 64) + 2 * (64 * 32 + 32) + 64 * 64 + 3 * 64 * 128 + 2 * 64
    assert n == 151936 * 64 + 2 * per_layer + 64 == 9_798_208
    assert json.loads((folder / "config.json").read_text())["vocab_size"] == 151936


def test_summarize_hand_computed(smoke, tmp_path):
    rows = [{"step": 0, "eval/pass@1": 0.0},
            {"step": 1, "step_time": 2.0, "rollout_time": 0.5, "tokens_per_s": 100.0, "loss": 0.1}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (s,) = smoke.summarize(tmp_path)
    assert s["completion_tokens"] == 200                    # 100 tok/s x 2 s
    assert s["rollout_tok_s"] == pytest.approx(400.0)       # 200 / 0.5
    assert s["train_tok_s"] == pytest.approx(200 / 1.5)     # 200 / (2 - 0.5)


def test_tiny_cpu_end_to_end(tmp_path):
    """torchrun -> the worker -> `r1kit train grpo` with fsdp2 + bf16 on gloo: 2 steps, a checkpoint whose
    weights moved, the resolved config as the GPU run would have it, the table and the peak memory."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    elapsed = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-3000:]
    assert elapsed < 60, elapsed
    out = done.stdout
    assert "| 1 |" in out and "| 2 |" in out and "rank 0: peak RSS" in out, out
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert "strategy: fsdp2" in cfg and "mixed_precision: bf16" in cfg
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:  # P=2 x G=2 rows of at most 16 tokens
        assert 0 < r["tokens_per_s"] * r["step_time"] <= 2 * 2 * 16 + 1e-6
        assert 0 < r["rollout_time"] < r["step_time"]
    from safetensors.torch import load_file

    before = load_file(str(tmp_path / "model" / "model.safetensors"))
    after = load_file(str(tmp_path / "run" / "checkpoints" / "step-000002" / "model.safetensors"))
    assert set(before) == set(after)
    assert max(float((before[k] - after[k]).abs().max()) for k in before) > 0  # it trained
    peak = json.loads((tmp_path / "run" / "peak_memory.rank0.json").read_text())
    assert peak["rss_bytes"] > 100 * 2**20
