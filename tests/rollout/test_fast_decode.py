"""FastDecoder computes the model's own function: logits equal to the transformers forward (fp32 rounding) at
prefill and every decode step, with left padding, GQA, biases, untied heads and shared rows; the engine samples
the same tokens with it as without it; unsupported models fall back to the model's forward."""

import pytest
import torch

from r1kit.rollout import RolloutEngine, SamplingParams
from r1kit.rollout.fast_decode import FastDecoder


def build(kind: str):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    if kind == "gpt2":  # learned positions, LayerNorm, Conv1D, GELU (the demo's base models)
        return GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=64, n_layer=2, n_head=4, n_positions=128)).eval()
    common = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128)
    if kind == "qwen2":  # q/k/v biases, tied embeddings
        model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=True))
    else:  # llama3 rope scaling, untied head, every projection biased
        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False, attention_bias=True, mlp_bias=True,
                                             rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                           "high_freq_factor": 4.0,
                                                           "original_max_position_embeddings": 32}))
    for p in model.parameters():  # biases start at 0: make them matter
        if p.dim() == 1:
            p.data.normal_(0, 0.3)
    return model.eval()


def reference_logits(model, rows: list[list[int]]) -> torch.Tensor:
    """The model's own last-position logits for each row alone, unpadded: (R, V)."""
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([r])).logits[0, -1] for r in rows]).float()


@pytest.mark.parametrize("kind", ["qwen2", "llama", "gpt2"])
def test_logits_equal_the_models_forward_at_prefill_and_decode(kind):
    model = build(kind)
    fast = FastDecoder.for_model(model)
    assert fast is not None
    prompts = [[5, 9, 12, 40, 3, 7], [8, 1], [60, 61, 62, 2]]
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])                  # left-padded
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    steps = 5
    full_mask = torch.cat([mask, torch.ones(len(prompts), steps, dtype=torch.long)], 1)
    cache = fast.new_cache(len(prompts), width + steps)
    with torch.inference_mode():
        logits = fast.forward(ids, full_mask[:, :width], (mask.cumsum(1) - 1).clamp(min=0), cache)
    rows = [list(p) for p in prompts]
    assert (logits - reference_logits(model, rows)).abs().max() < 1e-5
    positions = mask.sum(1)
    for t in range(steps):
        nxt = logits.argmax(-1)                                                         # (R,)
        for r, tok in zip(rows, nxt.tolist()):
            r.append(tok)
        with torch.inference_mode():
            logits = fast.forward(nxt[:, None], full_mask[:, :width + t + 1], positions[:, None] + t, cache)
        assert (logits - reference_logits(model, rows)).abs().max() < 1e-5, t


def test_shared_rows_and_compaction_keep_each_rows_cache():
    model = build("qwen2")
    fast = FastDecoder.for_model(model)
    cache = fast.new_cache(2, 10)
    prompts = torch.tensor([[3, 4, 5], [7, 8, 9]])
    with torch.inference_mode():
        fast.forward(prompts, None, torch.arange(3).expand(2, 3), cache)
        cache.batch_select_indices(torch.tensor([1, 1, 0]))                            # share, reorder
        out = fast.forward(torch.tensor([[11], [12], [13]]), None, torch.full((3, 1), 3), cache)
    want = reference_logits(model, [[7, 8, 9, 11], [7, 8, 9, 12], [3, 4, 5, 13]])
    assert (out - want).abs().max() < 1e-5


def test_engine_samples_the_same_with_and_without_it(tiny_model_dir, one_thread):
    from r1kit.models import load_model, load_tokenizer

    model, tok = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    params = SamplingParams(max_new_tokens=24, temperature=1.0, top_p=0.95, n=4, seed=3)
    prompts = ["1 + 2 =", "what is 17 * 3?", "x"]
    fast = RolloutEngine(model, tok).generate(prompts, params)
    slow = RolloutEngine(model, tok, fast=False).generate(prompts, params)
    assert torch.equal(fast.completion_ids, slow.completion_ids) and fast.texts == slow.texts
    assert (fast.logp - slow.logp).abs().max() < 1e-5


def test_other_architectures_use_the_models_forward():
    from transformers import GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM

    relu = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=32, n_layer=1, n_head=2, activation_function="relu"))
    opt = OPTForCausalLM(OPTConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   ffn_dim=64, word_embed_proj_dim=32))
    assert FastDecoder.for_model(relu) is None and FastDecoder.for_model(opt) is None


def test_lora_wrapped_models_run_their_own_forward(tiny_model_dir, one_thread):
    """peft's LoRA Linear keeps the base weight in `weight`: a decoder reading it would sample the base model,
    not the policy. Such models take the model's forward, so samples follow the adapters."""
    from r1kit.models import load_tokenizer
    from r1kit.models.lora import load_lora_policy

    model, lora = load_lora_policy(str(tiny_model_dir), {"r": 4}, dtype="float32", device="cpu")
    for name, p in model.named_parameters():
        if "lora_B" in name:  # adapters start as a no-op (B = 0): make them change the function
            p.data.normal_(0, 0.5)
    assert FastDecoder.for_model(model) is None
    tok = load_tokenizer(tiny_model_dir)
    params = SamplingParams(max_new_tokens=16, temperature=1.0, n=2, seed=1)
    with_adapters = RolloutEngine(model, tok).generate(["1 + 2 ="], params)
    with lora.disable_adapter():
        base = RolloutEngine(model, tok).generate(["1 + 2 ="], params)
    assert not torch.equal(with_adapters.logp, base.logp)


@pytest.mark.parametrize("kind", ["qwen2", "llama", "gpt2"])
def test_bf16_packed_projections_compute_f_linear(kind, monkeypatch):
    """bf16 on CPU: projections on oneDNN-packed weights give F.linear's logits, at prefill (left-padded) and at
    a decode step, biases included."""
    from r1kit.rollout import fast_decode

    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        pytest.skip("no oneDNN bf16 on this torch build or CPU (it needs AVX-512)")
    assert fast_decode.onednn_packed()  # its probe: the packed ops exist and agree with F.linear
    model = build(kind)
    ids = torch.tensor([[0, 0, 5, 9, 12], [8, 1, 60, 61, 62]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    full = torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], 1)
    out = {}
    for packed in (True, False):
        monkeypatch.setattr(fast_decode, "onednn_packed", lambda packed=packed: packed)
        fast = FastDecoder.for_model(model, torch.bfloat16)
        assert fast.packed is packed
        cache = fast.new_cache(2, 6)
        with torch.inference_mode():
            first = fast.forward(ids, mask, (mask.cumsum(1) - 1).clamp(min=0), cache)
            second = fast.forward(first.argmax(-1)[:, None], full, mask.sum(1)[:, None], cache)
        out[packed] = torch.stack([first, second])
    assert out[True].abs().max() > 0.1
    assert (out[True] - out[False]).abs().max() <= 0.02 * out[False].abs().max()
