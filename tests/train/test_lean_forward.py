"""Mixed precision (parallel.mixed_precision=bf16 in one process): train/lean_forward.py against the model's own
forward and backward, the bf16 rollout decoder, and GRPO / SFT runs that keep float32 master weights."""

import json

import pytest
import torch

from r1kit.config import load_config
from r1kit.errors import R1kitError
from r1kit.train.config import GRPORunConfig
from r1kit.train.forward import prefix_shared_logits
from r1kit.train.lean_forward import LeanWeights, compute_dtype, lean_logits, lean_supported, mixed_forward

pytestmark = pytest.mark.usefixtures("one_thread")

# qwen2 has q/k/v biases; llama none; both grouped-query (4 heads, 2 kv heads). Untied embeddings, wide init:
# a wrong position, mask or fused slice moves logits far past the tolerances.
SHAPES = {"qwen2": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                        num_key_value_heads=2),
          "llama": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                        num_key_value_heads=2),
          # every projection with a bias (attention's o_proj and the MLP's too)
          "llama_bias": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                             num_key_value_heads=2, attention_bias=True, mlp_bias=True)}


@pytest.fixture(scope="module")
def models():
    from r1kit.models import build_model, build_tokenizer

    tok = build_tokenizer()
    out = {arch: build_model(arch.split("_")[0], "tiny", tok, seed=0, tie_word_embeddings=False,
                             initializer_range=0.1, **shape) for arch, shape in SHAPES.items()}
    # tied: the embedding's gradient is the lookup's plus the head copy's, added by scatter_grads
    out["qwen2_tied"] = build_model("qwen2", "tiny", tok, seed=0, tie_word_embeddings=True, initializer_range=0.1,
                                    **SHAPES["qwen2"])
    return out


def rows(B: int = 6, L: int = 20, prefix: int = 9, seed: int = 0) -> torch.Tensor:
    """(B, L) token ids whose first `prefix` tokens agree (a shared prompt)."""
    ids = torch.randint(5, 500, (B, L), generator=torch.Generator().manual_seed(seed))
    ids[:, :prefix] = ids[0, :prefix]
    return ids


def grads_of(model, fn) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    fn()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("arch", [*SHAPES, "qwen2_tied"])
@pytest.mark.parametrize("prefix", [0, 9])
def test_fp32_logits_and_gradients_equal_the_model(models, arch, prefix):
    """In fp32 the lean forward is the model's forward: logits to 1e-5, and the gradients of two accumulated
    micro-batches, scattered from the fused copies onto q/k/v, gate/up, biases and the head, to 1e-5 relative."""
    model, ids, keep = models[arch], rows(), 10  # keep <= L - prefix
    mask = torch.ones_like(ids)
    with torch.no_grad():
        want = model(input_ids=ids, use_cache=False).logits[:, -keep:]
        got = lean_logits(LeanWeights(model, torch.float32), ids, prefix, keep)
    assert got.shape == want.shape and (got - want).abs().max() < 1e-5

    def own():
        for i in (0, 3):
            prefix_shared_logits(model, ids[i:i + 3], mask[i:i + 3], 9, keep).logsumexp(-1).mean().backward()

    def lean():
        weights = LeanWeights(model, torch.float32, grad=True)
        for i in (0, 3):
            lean_logits(weights, ids[i:i + 3], prefix, keep).logsumexp(-1).mean().backward()
        weights.scatter_grads()

    want_g, got_g = grads_of(model, own), grads_of(model, lean)
    assert set(got_g) == set(want_g) and any("q_proj.bias" in n for n in want_g) == (arch != "llama")
    for name, g in want_g.items():
        assert (got_g[name] - g).norm() <= 1e-5 * g.norm() + 1e-9, name


def test_bf16_is_close_and_gradients_reach_fp32_masters(models):
    """bf16 matmuls: logits within bf16 rounding of fp32, gradients pointing the same way (cosine > 0.999),
    and every gradient is float32 on the float32 parameters."""
    model, ids = models["qwen2"], rows()
    with torch.no_grad():
        want = model(input_ids=ids, use_cache=False).logits[:, -10:]
        got = lean_logits(LeanWeights(model, torch.bfloat16), ids, 9, 10)
    assert got.dtype == torch.float32 and (got - want).abs().max() < 0.03 * want.abs().max()
    want_g = grads_of(model, lambda: model(input_ids=ids).logits[:, -10:].logsumexp(-1).mean().backward())

    def lean():
        weights = LeanWeights(model, torch.bfloat16, grad=True)
        lean_logits(weights, ids, 9, 10).logsumexp(-1).mean().backward()
        weights.scatter_grads()

    got_g = grads_of(model, lean)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for name, g in want_g.items():
        assert got_g[name].dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(got_g[name].flatten(), g.flatten(), 0) > 0.999, name


def test_mixed_forward_picks_lean_autocast_or_plain(models):
    from r1kit.models import build_model, build_tokenizer
    from r1kit.train.config import ParallelConfig

    gpt2 = build_model("gpt2", "tiny", build_tokenizer(), seed=0)
    assert compute_dtype(ParallelConfig(), models["qwen2"]) is None
    assert compute_dtype(ParallelConfig(mixed_precision="bf16"), models["qwen2"]) == torch.bfloat16
    weights, ctx = mixed_forward(models["qwen2"], torch.bfloat16, grad=False)
    assert isinstance(weights, LeanWeights) and weights.layers[0].w_qkv.dtype == torch.bfloat16
    weights, ctx = mixed_forward(gpt2, torch.bfloat16, grad=False)
    assert weights is None and not lean_supported(gpt2)
    with ctx():
        assert torch.is_autocast_enabled("cpu")
    weights, ctx = mixed_forward(models["qwen2"], None, grad=True)
    with ctx():
        assert weights is None and not torch.is_autocast_enabled("cpu")


def test_bf16_decoder_samples_from_bf16_copies(models):
    """FastDecoder.for_model(model, bf16): the decoder's weights are bf16 copies, the model stays fp32, and its
    logits are the fp32 decoder's within bf16 rounding."""
    from r1kit.rollout.fast_decode import FastDecoder

    model, ids = models["llama"].eval(), rows(B=3, L=10, prefix=0)
    pos = torch.arange(10).expand(3, 10)
    out = {}
    for dtype in (None, torch.bfloat16):
        fast = FastDecoder.for_model(model, dtype)
        out[dtype] = fast.forward(ids, None, pos, fast.new_cache(3, 16))
        assert fast.layers[0].w_qkv.dtype == (dtype or torch.float32)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert (out[torch.bfloat16] - out[None]).abs().max() < 0.03 * out[None].abs().max()


def grpo_config(model_dir, out_dir, **extra) -> GRPORunConfig:
    overrides = {"model.name_or_path": str(model_dir), "model.device": "cpu", "out_dir": str(out_dir), "steps": 3,
                 "rollout.prompts_per_step": 2, "rollout.group_size": 4, "rollout.max_new_tokens": 12,
                 "data.test_size": 2, "data.train_size": 20, "eval.samples": 1, "eval.max_new_tokens": 8,
                 "save_every": 0, "optim.lr": 1e-3, "optim.micro_batch_size": 4, "grpo.beta": 0.04,
                 "rewards": {"parity": 1.0}, **extra}
    return load_config(GRPORunConfig, None, [f"--{k}={json.dumps(v) if isinstance(v, dict) else v}"
                                             for k, v in overrides.items()])


def test_grpo_mixed_precision_trains_fp32_masters(tiny_model_dir, tmp_path, monkeypatch):
    """A GRPO run with parallel.mixed_precision=bf16: the bf16 sampler's logp agrees with the bf16 training
    forward to within bf16 noise at step 0, the KL is finite, and the saved weights are float32 and moved."""
    from safetensors.torch import load_file

    from r1kit.rewards import registry
    from r1kit.train import grpo

    monkeypatch.setitem(registry.REWARDS, "parity",
                        registry.Reward(lambda completion, example, ctx: float(len(completion) % 2)))
    dtypes = {"sample": set(), "eval": set()}
    real_sample, real_eval = grpo.sample_rollout, grpo.evaluate_policy
    monkeypatch.setattr(grpo, "sample_rollout",
                        lambda run, engine: dtypes["sample"].add(engine.compute_dtype) or real_sample(run, engine))
    monkeypatch.setattr(grpo, "evaluate_policy",
                        lambda engine, *a: dtypes["eval"].add(engine.compute_dtype) or real_eval(engine, *a))
    cfg = grpo_config(tiny_model_dir, tmp_path / "run", **{"parallel.mixed_precision": "bf16"})
    grpo.train_grpo(cfg, progress=False)
    # rollouts from bf16 copies; the held-out evaluation from the fp32 weights, as `r1kit eval` samples them
    assert dtypes == {"sample": {torch.bfloat16}, "eval": {None}}
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert 0 < metrics[0]["logp_gap/max"] < 0.5 and abs(metrics[0]["ratio/rollout_vs_forward"] - 1) < 0.02
    assert all(abs(m["kl"]) < 1.0 and m["grad_norm"] > 0 for m in metrics)
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(tmp_path / "run" / "checkpoints" / "step-000003" / "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in after.values())
    assert any(not torch.equal(after[k], before[k]) for k in before)


def test_mixed_precision_needs_float32_master_weights(tiny_model_dir, tmp_path):
    with pytest.raises(R1kitError, match="keeps float32 master weights: set model.dtype=float32"):
        grpo_config(tiny_model_dir, tmp_path, **{"parallel.mixed_precision": "bf16", "model.dtype": "bfloat16"})
