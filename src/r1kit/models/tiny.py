"""Named small model configs and `new_model`, which writes a randomly initialised model to disk.

    path = new_model("qwen2", "tiny", "runs/base")       # -> Path("runs/base")
    model = AutoModelForCausalLM.from_pretrained(path)    # or r1kit.models.load_model(path)

The directory is a plain transformers checkpoint (config.json, generation_config.json,
model.safetensors, tokenizer files), so AutoModelForCausalLM / AutoTokenizer (and vLLM) load it
unchanged. The architectures are the ones the R1 report trains or distils into: Qwen2 (Qwen2.5
students), Llama (Llama-3 students) and DeepseekV3 (MLA attention + MoE, the R1 base model).
`MODEL_CONFIGS` is plain data so the CLI can list it; `**overrides` change any config field.
"""

import dataclasses
from pathlib import Path

from r1kit.errors import R1kitError

_DENSE_TINY = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=384, max_position_embeddings=1024, tie_word_embeddings=True)
_DENSE_SMALL = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=768, max_position_embeddings=1024, tie_word_embeddings=False)
# DeepseekV3 shrunk: MLA (low-rank q and kv with a separate rope part) and a MoE of 8 routed
# experts (top-2) plus 1 shared expert after one dense layer, as V3 has 3 dense layers then MoE.
# - n_group=1: V3's group-limited routing (a device-balancing device) scores each group by its
#   top-2 experts, so groups need >= 2 experts; at 8 experts there is nothing to limit.
# - routed_scaling_factor=1: the top-k weights are normalised to sum to 1 (norm_topk_prob), so
#   the routed output has a dense MLP's scale; V3's 2.5 is tuned for top-8 of 256 experts.
# - num_mtp_layers=0: transformers builds no multi-token-prediction module, so declare none.
_MOE = dict(num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=96,
            kv_lora_rank=64, qk_rope_head_dim=16, qk_nope_head_dim=32, v_head_dim=32, n_routed_experts=8,
            num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1, first_k_dense_replace=1,
            routed_scaling_factor=1.0, num_mtp_layers=0, max_position_embeddings=1024)

# GPT-2: learned absolute position embeddings. At toy scale, with prompts of fixed layout (the
# R1-Zero template around 5-digit operands), it learned digit look-ups far sooner than RoPE models.
_GPT2_NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, n_positions=1024)

MODEL_CONFIGS: dict[str, dict[str, dict]] = {
    "gpt2": {"tiny": dict(_GPT2_NO_DROPOUT, n_embd=128, n_layer=4, n_head=4, n_inner=384, tie_word_embeddings=True),
             "small": dict(_GPT2_NO_DROPOUT, n_embd=256, n_layer=4, n_head=4, n_inner=768, tie_word_embeddings=False)},
    "qwen2": {"tiny": _DENSE_TINY, "small": _DENSE_SMALL},
    "llama": {"tiny": _DENSE_TINY, "small": _DENSE_SMALL},
    "deepseek_v3": {
        "tiny": dict(_MOE, hidden_size=128, intermediate_size=384, moe_intermediate_size=64,
                     tie_word_embeddings=True),
        "small": dict(_MOE, hidden_size=256, intermediate_size=768, moe_intermediate_size=128,
                      tie_word_embeddings=False),
    },
}


def _config_class(arch: str):
    from transformers import DeepseekV3Config, GPT2Config, LlamaConfig, Qwen2Config

    return {"qwen2": Qwen2Config, "llama": LlamaConfig, "deepseek_v3": DeepseekV3Config, "gpt2": GPT2Config}[arch]


def _check_overrides(config_cls, overrides: dict) -> None:
    """Unknown config fields are errors: transformers would silently store them as attributes."""
    # attribute_map holds aliases (num_local_experts); transformers 5 still folds the legacy
    # rope_theta keyword into rope_parameters.
    known = {f.name for f in dataclasses.fields(config_cls)} | set(config_cls.attribute_map) | {"rope_theta"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise R1kitError(f"unknown {config_cls.__name__} field(s): {', '.join(unknown)}")


def model_config(arch: str, size: str, tokenizer, **overrides):
    """The transformers config for a named (arch, size), sized to `tokenizer` and its special ids."""
    from huggingface_hub.errors import StrictDataclassError

    if arch not in MODEL_CONFIGS:
        raise R1kitError(f"unknown model arch {arch!r}; valid: {', '.join(MODEL_CONFIGS)}")
    if size not in MODEL_CONFIGS[arch]:
        raise R1kitError(f"unknown model size {size!r} for {arch}; valid: {', '.join(MODEL_CONFIGS[arch])}")
    config_cls = _config_class(arch)
    _check_overrides(config_cls, overrides)
    fields = dict(
        MODEL_CONFIGS[arch][size],
        vocab_size=len(tokenizer),  # len() counts added special tokens; .vocab_size may not
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    try:
        return config_cls(**(fields | overrides))
    except (TypeError, ValueError, StrictDataclassError) as e:  # configs validate field types
        message = " ".join(line.strip() for line in str(e).splitlines())
        raise R1kitError(f"bad {config_cls.__name__} override: {message}") from None


def build_model(arch: str, size: str, tokenizer, *, seed: int = 0, **overrides):
    """The in-memory, randomly initialised float32 model that `new_model` saves."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" bars drown r1kit's own progress

    config = model_config(arch, size, tokenizer, **overrides)
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    return model


def new_model(arch: str, size: str, out_dir, *, seed: int = 0, tokenizer=None, **overrides) -> Path:
    """Build a randomly initialised `arch`/`size` model, save it with its tokenizer to `out_dir`.

    tokenizer: None builds r1kit's default (`build_tokenizer()`). seed fixes the initial weights:
    the same arguments give the same safetensors. Returns `out_dir` as a Path.
    """
    from r1kit.models.tokenizer import build_tokenizer

    tokenizer = build_tokenizer() if tokenizer is None else tokenizer
    model = build_model(arch, size, tokenizer, seed=seed, **overrides)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # model.safetensors + config.json + generation_config.json
    tokenizer.save_pretrained(out)  # tokenizer.json + tokenizer_config.json + chat_template.jinja
    return out


def count_params(model) -> int:
    """Number of distinct parameters (a tied embedding is counted once)."""
    return sum(p.numel() for p in model.parameters())
