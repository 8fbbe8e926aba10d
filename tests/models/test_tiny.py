"""Named model configs: each arch builds, saves, and reloads through the Auto classes unchanged."""

import pytest
import torch

from r1kit.errors import R1kitError
from r1kit.models import MODEL_CONFIGS, build_model, count_params, model_config, new_model

ARCH_SIZES = [(arch, size) for arch in MODEL_CONFIGS for size in MODEL_CONFIGS[arch]]


def _batch(vocab_size: int, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, vocab_size, (batch, length), generator=g)  # (B, T)


@pytest.mark.parametrize("arch,size", ARCH_SIZES)
def test_saved_model_reloads_with_identical_logits(tmp_path, tokenizer, arch, size):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    in_memory = build_model(arch, size, tokenizer, seed=3).eval()
    path = new_model(arch, size, tmp_path / "m", seed=3, tokenizer=tokenizer)
    assert path == tmp_path / "m"
    for name in ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja"]:
        assert (path / name).is_file(), name

    loaded = AutoModelForCausalLM.from_pretrained(path).eval()
    assert type(loaded) is type(in_memory)
    ids = _batch(len(tokenizer), 2, 16)
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, in_memory(ids).logits)

    # The saved tokenizer encodes exactly like the in-memory one. (For qwen2, AutoTokenizer
    # rebuilds it as Qwen2Tokenizer with its own pipeline; ours is built to match it.)
    reloaded = AutoTokenizer.from_pretrained(path)
    text = "You?<|User|>What is 12345 + 67890?<|Assistant|><think>\nI'm  sure\n</think> <answer>80235</answer>"
    assert reloaded.encode(text) == tokenizer.encode(text)
    assert reloaded.decode(reloaded.encode(text)) == text
    assert reloaded.chat_template == tokenizer.chat_template
    assert (reloaded.eos_token_id, reloaded.pad_token_id) == (tokenizer.eos_token_id, tokenizer.pad_token_id)


@pytest.mark.parametrize("arch,size", ARCH_SIZES)
def test_config_takes_vocab_and_special_ids_from_the_tokenizer(tokenizer, arch, size):
    config = model_config(arch, size, tokenizer)
    assert config.vocab_size == len(tokenizer)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert config.tie_word_embeddings == (size == "tiny")
    for key, value in MODEL_CONFIGS[arch][size].items():
        assert getattr(config, key) == value, key


def test_generation_config_and_param_counts(tmp_path, tokenizer):
    from transformers import GenerationConfig

    path = new_model("qwen2", "tiny", tmp_path, tokenizer=tokenizer)
    gen = GenerationConfig.from_pretrained(path)
    assert (gen.eos_token_id, gen.pad_token_id) == (tokenizer.eos_token_id, tokenizer.pad_token_id)
    tied = build_model("qwen2", "tiny", tokenizer)
    untied = build_model("qwen2", "tiny", tokenizer, tie_word_embeddings=False)
    assert count_params(untied) - count_params(tied) == len(tokenizer) * 128  # the separate lm_head


def test_seed_fixes_the_weights(tokenizer):
    a, b, c = (build_model("llama", "tiny", tokenizer, seed=s) for s in (0, 0, 1))
    wa, wb, wc = (m.model.layers[0].self_attn.q_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_default_tokenizer_and_overrides(tmp_path):
    from transformers import AutoConfig

    path = new_model("deepseek_v3", "tiny", tmp_path / "ds", num_hidden_layers=2, n_routed_experts=4)
    config = AutoConfig.from_pretrained(path)
    assert (config.num_hidden_layers, config.n_routed_experts, config.vocab_size) == (2, 4, 1024)


def test_deepseek_v3_gradient_reaches_every_expert_and_the_router(tokenizer):
    model = build_model("deepseek_v3", "tiny", tokenizer).train()
    ids = _batch(len(tokenizer), 8, 64)  # 512 tokens, top-2 of 8 experts: every expert gets tokens
    model(ids, labels=ids).loss.backward()

    moe_layers = [layer.mlp for layer in model.model.layers[1:]]  # layer 0 is dense (first_k_dense_replace=1)
    assert not hasattr(model.model.layers[0].mlp, "experts") and len(moe_layers) == 3
    for mlp in moe_layers:
        assert mlp.gate.weight.grad.abs().sum() > 0  # the router, through the top-k weights
        for proj in (mlp.experts.gate_up_proj, mlp.experts.down_proj):  # (E, out, in), one slice per expert
            per_expert = proj.grad.abs().flatten(1).sum(dim=1)  # (E,)
            assert per_expert.shape == (8,) and bool((per_expert > 0).all())
        assert mlp.shared_experts.down_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_arch_size_or_field_is_a_user_error(tmp_path, tokenizer):
    with pytest.raises(R1kitError, match="qwen2, llama, deepseek_v3"):
        new_model("gpt5", "tiny", tmp_path, tokenizer=tokenizer)
    with pytest.raises(R1kitError, match="tiny, small"):
        new_model("qwen2", "huge", tmp_path, tokenizer=tokenizer)
    with pytest.raises(R1kitError, match="hidden_sise"):
        new_model("llama", "tiny", tmp_path, tokenizer=tokenizer, hidden_sise=64)
    with pytest.raises(R1kitError, match="hidden_size"):
        model_config("qwen2", "tiny", tokenizer, hidden_size="big")
    assert not any(tmp_path.iterdir())  # nothing written on error


@pytest.mark.parametrize("arch", list(MODEL_CONFIGS))
def test_generate_from_left_padded_chat_prompts(tokenizer, arch):
    model = build_model(arch, "tiny", tokenizer).eval()
    chats = [[{"role": "user", "content": q}] for q in ("1 + 2?", "What is 12345 + 67890?")]
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=6, do_sample=False)  # (B, Lp + <=6)
    assert out.shape[0] == 2 and 0 < out.shape[1] - batch["input_ids"].shape[1] <= 6
    assert torch.equal(out[:, : batch["input_ids"].shape[1]], batch["input_ids"])
