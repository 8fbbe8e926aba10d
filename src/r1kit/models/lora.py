"""LoRA adapters through peft: train low-rank deltas, keep the base frozen (Hu et al., arXiv 2106.09685).

    peft_model = apply_lora(model, {"r": 8, "alpha": 16})      # base frozen, adapters trainable
    policy = peft_model.get_base_model()                        # the same modules, adapters inside
    with adapters_disabled(peft_model):                         # the base model, e.g. the KL reference
        ref_logits = policy(input_ids).logits
    merged = merged_copy(peft_model)                            # a plain transformers model, W + (alpha/r) B A
    save_adapter(peft_model, "ckpt/adapter"); load_adapter(peft_model, "ckpt/adapter")

Each targeted linear layer computes  h = W x + (alpha / r) * B A dropout(x),  W (out, in) frozen,
A (r, in) and B (out, r) trained; B starts at zero, so a fresh adapter leaves the model unchanged.
The policy runs as `get_base_model()` rather than the PeftModel wrapper: its forward keeps transformers'
own signature (the `cache` and `logits_to_keep` arguments the rollout engine and train/forward.py look
for). peft is imported only inside the functions, so only runs with model.lora set need it.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from r1kit.errors import R1kitError

DEFAULT_TARGETS = {
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gpt2": ["c_attn"],
    "deepseek_v3": ["q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
}
"""Module-name suffixes adapted when model.lora.target_modules is empty: the attention projections
(deepseek_v3: those of its config that exist, as q_proj or q_a_proj/q_b_proj depends on q_lora_rank)."""


@dataclass(frozen=True)
class LoraConfig:
    """model.lora, validated. An empty mapping means LoRA is off (see ModelConfig.lora)."""
    r: int = 8
    """Rank of the adapter (A: (r, in), B: (out, r))."""
    alpha: float = 16.0
    """Scale numerator: the update is (alpha / r) * B A."""
    dropout: float = 0.0
    """Dropout on the adapter's input (training mode only)."""
    target_modules: list[str] = field(default_factory=list)
    """Module-name suffixes to adapt (exact name or ending in "." + suffix); empty = DEFAULT_TARGETS[arch]."""

    @classmethod
    def from_dict(cls, data: dict) -> LoraConfig:
        """Validate a model.lora mapping; unknown keys or bad values -> R1kitError (one line)."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise R1kitError(f"model.lora: unknown key {key!r} (valid: {', '.join(names)})")
        cfg = cls(**data)
        if isinstance(cfg.r, bool) or not isinstance(cfg.r, int) or cfg.r < 1:
            raise R1kitError(f"model.lora.r must be an integer >= 1, got {cfg.r!r}")
        if isinstance(cfg.alpha, bool) or not isinstance(cfg.alpha, (int, float)) or cfg.alpha <= 0:
            raise R1kitError(f"model.lora.alpha must be a number > 0, got {cfg.alpha!r}")
        if isinstance(cfg.dropout, bool) or not isinstance(cfg.dropout, (int, float)) or not 0 <= cfg.dropout < 1:
            raise R1kitError(f"model.lora.dropout must be in [0, 1), got {cfg.dropout!r}")
        targets = cfg.target_modules
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise R1kitError(f"model.lora.target_modules must be a list of module names, got {targets!r}")
        return cfg


def _targets(model, cfg: LoraConfig) -> list[str]:
    """The module-name suffixes to adapt; a named one that matches no module -> R1kitError."""
    arch = getattr(model.config, "model_type", type(model).__name__)
    names = [n for n, _ in model.named_modules()]
    matches = lambda t: any(n == t or n.endswith("." + t) for n in names)
    if cfg.target_modules:
        for t in cfg.target_modules:
            if not matches(t):
                raise R1kitError(f"model.lora.target_modules: {t} matches no module of {arch}")
        return list(cfg.target_modules)
    found = [t for t in DEFAULT_TARGETS.get(arch, []) if matches(t)]
    if not found:
        raise R1kitError(f"model.lora.target_modules: no default for {arch}; name the modules to adapt")
    return found


def apply_lora(model, lora: dict | LoraConfig):
    """Wrap `model` (a transformers causal LM) in a peft PeftModel with LoRA adapters; returns it.

    Only the adapters' A and B require grad afterwards. The base weights are shared, not copied:
    `apply_lora(model, ...).get_base_model() is model`, now with the adapter layers inside.
    """
    import warnings

    import peft

    cfg = lora if isinstance(lora, LoraConfig) else LoraConfig.from_dict(lora)
    targets = _targets(model, cfg)
    conv1d = any(type(m).__name__ == "Conv1D" for m in model.modules())  # gpt2 stores W as (in, out)
    peft_cfg = peft.LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets,
                               fan_in_fan_out=conv1d)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft reads transformers' deprecated names
            return peft.get_peft_model(model, peft_cfg)
    except ValueError as e:  # e.g. a target that is not a linear layer
        raise R1kitError(f"model.lora: {str(e).strip().splitlines()[0]}") from None


@contextmanager
def adapters_disabled(peft_model):
    """Run the base model: inside the block every adapter is bypassed (h = W x), on exit restored.

    The KL reference of a LoRA run is its base model, so no second copy of the weights is held."""
    with peft_model.disable_adapter():
        yield peft_model


def merged_copy(peft_model):
    """A plain transformers model with W <- W + (alpha / r) B A in every adapted layer.

    `peft_model` is left as it was (the merge is done on a deep copy, which briefly holds a second
    copy of the model on its device)."""
    import copy

    return copy.deepcopy(peft_model).merge_and_unload()


def save_adapter(peft_model, out_dir) -> Path:
    """Write the adapter in peft's format (adapter_config.json, adapter_model.safetensors) to `out_dir`;
    `peft.PeftModel.from_pretrained(base, out_dir)` loads it."""
    out = Path(out_dir)
    peft_model.save_pretrained(out, safe_serialization=True)
    return out


def load_adapter(peft_model, adapter_dir) -> None:
    """Load saved adapter weights into `peft_model` (made by apply_lora with the same config), in place.

    R1kitError when the folder holds no adapter or its shapes / layers differ from this config's."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(adapter_dir) / "adapter_model.safetensors"
    if not path.is_file():
        raise R1kitError(f"no LoRA adapter in {adapter_dir} (adapter_model.safetensors missing)")
    try:
        result = set_peft_model_state_dict(peft_model, load_file(str(path)))
    except RuntimeError as e:  # size mismatch: another r
        raise R1kitError(f"the LoRA adapter in {adapter_dir} does not fit model.lora: "
                         f"{str(e).strip().splitlines()[-1].strip()}") from None
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        first = (missing or result.unexpected_keys)[0]
        raise R1kitError(f"the LoRA adapter in {adapter_dir} does not fit model.lora (target_modules differ: {first})")


def load_lora_policy(name_or_path, lora: dict, *, dtype: str, device: str, adapter_dir=None):
    """The base model from `name_or_path` with LoRA applied, on `device`; with `adapter_dir` (a checkpoint's
    adapter/, to resume) its saved adapter weights loaded. Returns (policy, peft_model): the policy is
    peft_model.get_base_model(), the module to run, sample and optimise."""
    from r1kit.models.load import load_model

    peft_model = apply_lora(load_model(name_or_path, dtype=dtype, device=device), lora)
    if adapter_dir is not None:
        load_adapter(peft_model, adapter_dir)
    return peft_model.get_base_model(), peft_model
