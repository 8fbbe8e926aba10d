"""Configuration of a reward-model run (`r1kit train rm`): one dataclass per concept in `RMRunConfig`.

The model and optimizer sections are the GRPO run's own (`ModelConfig`, `OptimConfig`); recipes in
`recipes/rm_*.yaml` override the defaults and `--section.key=value` overrides the recipe.
"""

from dataclasses import dataclass, field

from r1kit.errors import R1kitError
from r1kit.train.config import ModelConfig, OptimConfig


@dataclass
class RMDataConfig:
    path: str = ""
    """Preference JSONL: prompt + chosen/rejected, as strings or chat messages (r1kit.data.preference)."""
    test_path: str = ""
    """A separate held-out preference file; empty: hold out `test_fraction` of `path` by a hash of the prompt."""
    test_fraction: float = 0.1
    toy: int = 0
    """With no `path`: this many rows of the separable toy set (r1kit.data.preference.toy_pairs), for smoke runs."""
    max_length: int = 512
    """Tokens kept per (prompt, response) text, from the end, so the response stays whole."""


@dataclass
class RMConfig:
    batch_size: int = 16
    """Preference pairs per optimizer step (2 x batch_size sequences)."""
    margin: float = 0.0
    """m in -log sigma(r_c - r_r - m) (r1kit.algo.bradley_terry_loss); 0 is plain Bradley-Terry."""
    eval_batch_size: int = 64
    """Pairs per forward pass when measuring held-out pairwise accuracy."""


@dataclass
class RMRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    """The backbone: a causal LM given a scalar head (or a reward model to train further)."""
    data: RMDataConfig = field(default_factory=RMDataConfig)
    rm: RMConfig = field(default_factory=RMConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5))
    steps: int = 200
    eval_every: int = 50
    """Held-out loss and pairwise accuracy at step 0, every N steps and at the end (0: only at the end)."""
    seed: int = 0
    out_dir: str = "runs/rm"
    save_every: int = 0
    """Write a checkpoint every N steps (and always at the end); 0 = only at the end."""
    keep_checkpoints: int = 2
    threads: int = 0
    """torch CPU threads; 0 = torch's default."""

    def __post_init__(self) -> None:
        if self.model.lora:
            raise R1kitError("rm: model.lora is not supported for reward models yet (the scalar head trains with "
                             "the whole model); remove model.lora")
        for name, value in (("steps", self.steps), ("rm.batch_size", self.rm.batch_size),
                            ("rm.eval_batch_size", self.rm.eval_batch_size), ("data.max_length", self.data.max_length)):
            if value < 1:
                raise R1kitError(f"rm: {name} must be >= 1, got {value}")
        if not 0.0 <= self.data.test_fraction < 1.0:
            raise R1kitError(f"rm: data.test_fraction must be in [0, 1), got {self.data.test_fraction}")
        if self.optim.schedule not in ("constant", "linear", "cosine"):
            raise R1kitError(f"rm: optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}")
