"""Configuration of a GRPO run: one dataclass per concept, nested in `GRPORunConfig`.

Each field's docstring-comment says what it means; recipes in `recipes/*.yaml` override the
defaults and `--section.key=value` overrides the recipe (see r1kit.config).
"""

from dataclasses import dataclass, field
from typing import Any

from r1kit.errors import R1kitError


@dataclass
class ModelConfig:
    name_or_path: str = ""
    """A local Hugging Face model directory or a hub name (e.g. Qwen/Qwen2.5-Math-1.5B)."""
    dtype: str = "float32"
    """Weights dtype: float32, bfloat16, float16 or auto."""
    device: str = "auto"
    """cpu, cuda, cuda:N, or auto (cuda when available)."""
    lora: dict = field(default_factory=dict)
    """LoRA adapters (r1kit.models.lora; needs peft, the `lora` extra); empty = off, all weights train.
    Keys: r (rank, 8), alpha (16), dropout (0.0), target_modules (module-name suffixes; empty = the
    attention projections: q/k/v/o_proj for qwen2/llama, c_attn for gpt2). Only the adapters train; the KL
    reference is the base with adapters off (no second model); checkpoints hold the merged weights plus
    adapter/. GRPO's grpo.ref_reset_every is not supported with LoRA yet; on-policy distillation refuses it."""

    def __post_init__(self) -> None:
        if self.lora:
            from r1kit.models.lora import LoraConfig  # peft itself loads only when the adapters are applied

            LoraConfig.from_dict(self.lora)


@dataclass
class DataConfig:
    task: str = "arithmetic"
    """Task name: arithmetic, countdown or jsonl (see r1kit.data.tasks.get_task)."""
    task_args: dict = field(default_factory=dict)
    """Keyword arguments of the task (e.g. {digits: 5} or {path: data.jsonl})."""
    template: str = "r1_zero"
    """Prompt template: r1_zero (report Table 1), chat (the tokenizer's chat template), or a string with {prompt}."""
    train_size: int = 20000
    """Training problems drawn (cycled in a seeded shuffled order)."""
    test_size: int = 100
    """Held-out problems for evaluation."""


@dataclass
class RolloutConfig:
    prompts_per_step: int = 8
    """P: prompts sampled per step."""
    group_size: int = 8
    """G: completions per prompt (the group of GRPO's baseline); must be >= 2."""
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=lambda: ["</answer>"])
    """Stop strings (kept in the completion so the format reward sees them)."""
    backend: str = "engine"
    """engine: sample in-process with r1kit.rollout.RolloutEngine; server: from an OpenAI-compatible
    /v1/completions server at server_url (r1kit serve, SGLang, vLLM; docs/server-rollouts.md), which
    reloads the policy from disk every sync_every steps; old logprobs are then always recomputed."""
    server_url: str = ""
    """Base URL of the inference server, e.g. http://127.0.0.1:30000 (backend server)."""
    server_kind: str = "sglang"
    """How the server reloads weights: sglang (POST /update_weights_from_disk; SGLang and r1kit serve) or
    vllm (POST /collective_rpc reload_weights; vLLM with VLLM_SERVER_DEV_MODE=1)."""
    api_key: str = ""
    """Bearer token for the server; empty = none."""
    sync_every: int = 1
    """The server loads the policy's weights every N optimizer steps (1 = after every step: on-policy)."""
    max_staleness: int = 0
    """0: each step samples from the current policy. 1 (backend server, sync_every 1): one-step off-policy --
    the server samples step s+1's batch while step s trains, so every batch comes from the weights one step
    before the ones it trains (old_logp recomputed by the trainer; grpo.tis_cap corrects for the gap)."""

    def __post_init__(self) -> None:
        if self.backend not in ("engine", "server"):
            raise R1kitError(f"rollout.backend must be engine or server, got {self.backend!r}")
        if self.backend == "server" and not self.server_url.startswith(("http://", "https://")):
            raise R1kitError(f"rollout.backend=server needs rollout.server_url (http://host:port), got {self.server_url!r}")
        if self.server_kind not in ("sglang", "vllm"):
            raise R1kitError(f"rollout.server_kind must be sglang or vllm, got {self.server_kind!r}")
        if self.sync_every < 1:
            raise R1kitError(f"rollout.sync_every must be >= 1, got {self.sync_every}")
        if self.max_staleness not in (0, 1):
            raise R1kitError(f"rollout.max_staleness must be 0 or 1, got {self.max_staleness}")
        if self.max_staleness and (self.backend != "server" or self.sync_every != 1):
            raise R1kitError("rollout.max_staleness=1 needs rollout.backend=server and rollout.sync_every=1")


@dataclass
class GRPOConfig:
    advantage: str = "grpo"
    """grpo: (r - mean) / (std + eps), population std; dr_grpo: r - mean; rloo: r - mean of the other G-1;
    reinforce_pp: (r - group mean) / (batch std + eps) (r1kit.algo.ADVANTAGES)."""
    loss: str = "grpo"
    """grpo: token-level PPO clip; gspo: one clipped ratio per sequence, mean over sequences (aggregation
    ignored; the paper clips at 3e-4 / 4e-4); cispo: clipped, detached token weight (r1kit.algo.LOSSES)."""
    eps: float = 1e-4
    clip_low: float = 0.2
    clip_high: float = 0.2
    """Upper clip; > clip_low is DAPO's clip-higher (the report used 10 for R1's second stage)."""
    beta: float = 0.0
    """KL coefficient (k3 estimator); 0 never loads the reference model."""
    aggregation: str = "token_mean"
    """seq_mean (GRPO), token_mean (DAPO) or constant (Dr. GRPO)."""
    updates_per_batch: int = 1
    """mu: policy updates per rollout batch; old logprobs are kept from the rollout."""
    recompute_old_logp: bool = False
    """Take old logprobs from a teacher-forced pass instead of the sampler (advised in bf16)."""
    dynamic_sampling: bool = False
    """DAPO: drop groups whose rewards are all equal (they carry no signal)."""
    ref_reset_every: int = 0
    """Reset the reference model to the current policy every N steps (report: 400); 0 = never."""
    tis_cap: float = 0.0
    """Truncated importance sampling cap C on pi_old / pi_sampler (r1kit.algo.importance_weights): each
    token's policy-gradient term is weighted by min(ratio, C) (or masked above C); 0 = off. ~2 is usual."""
    tis_level: str = "token"
    """token: one ratio per token; sequence: the product over the sequence, one weight per row."""
    tis_mode: str = "truncate"
    """truncate: w = min(ratio, C); mask: w = 1[ratio <= C]."""

    def __post_init__(self) -> None:
        if not self.tis_cap >= 0:
            raise R1kitError(f"grpo.tis_cap must be >= 0 (0 = off), got {self.tis_cap}")
        if self.tis_level not in ("token", "sequence"):
            raise R1kitError(f"grpo.tis_level must be token or sequence, got {self.tis_level!r}")
        if self.tis_mode not in ("truncate", "mask"):
            raise R1kitError(f"grpo.tis_mode must be truncate or mask, got {self.tis_mode!r}")


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    warmup_steps: int = 0
    schedule: str = "constant"
    """constant, linear or cosine decay after warmup (to min_lr_ratio * lr)."""
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    micro_batch_size: int = 0
    """Completions per forward/backward; 0 = all at once. Smaller values accumulate gradients."""


@dataclass
class ParallelConfig:
    strategy: str = "ddp"
    """How a torchrun launch spreads training (r1kit.train.dist): ddp (every process holds the model, gradients
    averaged once per step) or fsdp2 (parameters, gradients and optimizer state sharded; also on one GPU).
    Read only under torchrun / accelerate launch; a plain `r1kit train` is one process either way."""
    mixed_precision: str = "no"
    """no, or bf16: compute in bfloat16, keep float32 master weights, gradients and optimizer state (needs
    model.dtype float32). One process and ddp: qwen2 / llama train through train/lean_forward.py (matmuls in
    bf16, attention and norms in fp32), other models under torch.autocast, and the rollout engine decodes with
    bf16 copies of the weights; SFT forwards run under torch.autocast. fsdp2: its MixedPrecisionPolicy,
    gradients reduced in float32."""

    def __post_init__(self) -> None:
        if self.strategy not in ("ddp", "fsdp2"):
            raise R1kitError(f"parallel.strategy must be ddp or fsdp2, got {self.strategy!r}")
        if self.mixed_precision not in ("no", "bf16"):
            raise R1kitError(f"parallel.mixed_precision must be no or bf16, got {self.mixed_precision!r}")


def check_mixed_precision(model: "ModelConfig", parallel: ParallelConfig) -> None:
    """Mixed precision keeps float32 master weights: model.dtype must load them as float32."""
    if parallel.mixed_precision == "bf16" and model.dtype != "float32":
        raise R1kitError(f"parallel.mixed_precision=bf16 keeps float32 master weights: set model.dtype=float32, "
                         f"not {model.dtype}")


@dataclass
class EvalConfig:
    samples: int = 4
    """k samples per problem; pass@1 is their mean accuracy."""
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 64
    every: int = 0
    """Evaluate on the test split every N steps (0 = only at the end)."""
    problems_per_batch: int = 64
    """Problems sampled per engine batch; with the seed it fixes every sample (r1kit.rollout.evaluate)."""


@dataclass
class GRPORunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    rewards: dict[str, float] = field(default_factory=lambda: {"accuracy": 1.0, "format": 0.0})
    """Reward components by name with weights (r1kit.rewards.REWARDS)."""
    reward_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Keyword options per reward, e.g. {code: {mode: all}, language: {language: en}}."""
    steps: int = 100
    seed: int = 0
    out_dir: str = "runs/grpo"
    save_every: int = 50
    """Write a checkpoint every N steps (and always at the end); 0 = only at the end."""
    keep_checkpoints: int = 2
    threads: int = 0
    """torch CPU threads; 0 = torch's default."""

    def __post_init__(self) -> None:
        check_mixed_precision(self.model, self.parallel)
        if self.rollout.group_size < 2:
            raise R1kitError(f"rollout.group_size must be >= 2 (GRPO needs a group baseline), got {self.rollout.group_size}")
        for name, value, low in (("steps", self.steps, 1), ("rollout.prompts_per_step", self.rollout.prompts_per_step, 1),
                                 ("rollout.max_new_tokens", self.rollout.max_new_tokens, 1),
                                 ("grpo.updates_per_batch", self.grpo.updates_per_batch, 1),
                                 ("eval.problems_per_batch", self.eval.problems_per_batch, 1)):
            if value < low:
                raise R1kitError(f"{name} must be >= {low}, got {value}")
        from r1kit.algo import ADVANTAGES, LOSSES  # lazy: imports torch

        if self.grpo.advantage not in ADVANTAGES:
            raise R1kitError(f"grpo.advantage must be one of {', '.join(ADVANTAGES)}, got {self.grpo.advantage!r}")
        if self.grpo.loss not in LOSSES:
            raise R1kitError(f"grpo.loss must be one of {', '.join(LOSSES)}, got {self.grpo.loss!r}")
        if self.grpo.aggregation not in ("seq_mean", "token_mean", "constant"):
            raise R1kitError(f"grpo.aggregation must be seq_mean, token_mean or constant, got {self.grpo.aggregation!r}")
        if self.optim.schedule not in ("constant", "linear", "cosine"):
            raise R1kitError(f"optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}")
        if self.rollout.temperature <= 0:
            raise R1kitError("rollout.temperature must be > 0 for GRPO sampling")
