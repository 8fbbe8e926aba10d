"""Configuration of an on-policy distillation run (`r1kit train onpolicy`): GRPO's sections where they
mean the same, plus the teacher.

    model.*, data.*, rollout.*, optim.*, eval.*, steps, seed, out_dir, save_every, keep_checkpoints, threads
                                       as in GRPORunConfig (train/config.py); rollout.group_size may be 1
    teacher.name_or_path, dtype, device   the model that scores the student's samples (same tokenizer)
"""

from dataclasses import dataclass, field

from r1kit.errors import R1kitError
from r1kit.train.config import DataConfig, EvalConfig, ModelConfig, OptimConfig, RolloutConfig


@dataclass
class TeacherConfig:
    name_or_path: str = ""
    """The teacher: a local model directory or hub name; its tokenizer must be the student's."""
    dtype: str = "float32"
    """Weights dtype: float32, bfloat16, float16 or auto (it is only run forward, without gradient)."""
    device: str = "auto"
    """cpu, cuda, cuda:N, or auto (cuda when available); may differ from the student's."""


@dataclass
class OnPolicyRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    """The student, trained."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    """Only the prompts are used for training (no answers, no rewards); the answers score the held-out eval."""
    rollout: RolloutConfig = field(default_factory=lambda: RolloutConfig(group_size=4))
    """P prompts x G samples per step from the student; G >= 1 (no group baseline here)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    steps: int = 100
    seed: int = 0
    out_dir: str = "runs/onpolicy"
    save_every: int = 50
    """Write a checkpoint every N steps (and always at the end); 0 = only at the end."""
    keep_checkpoints: int = 2
    threads: int = 0
    """torch CPU threads; 0 = torch's default."""

    def __post_init__(self) -> None:
        for name, value, low in (("steps", self.steps, 1), ("rollout.prompts_per_step", self.rollout.prompts_per_step, 1),
                                 ("rollout.group_size", self.rollout.group_size, 1),
                                 ("rollout.max_new_tokens", self.rollout.max_new_tokens, 1),
                                 ("optim.micro_batch_size", self.optim.micro_batch_size, 0),
                                 ("eval.problems_per_batch", self.eval.problems_per_batch, 1),
                                 ("save_every", self.save_every, 0)):
            if value < low:
                raise R1kitError(f"onpolicy: {name} must be >= {low}, got {value}")
        if self.optim.schedule not in ("constant", "linear", "cosine"):
            raise R1kitError(f"onpolicy: optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}")
        if self.rollout.temperature <= 0:
            raise R1kitError("onpolicy: rollout.temperature must be > 0 (the student samples)")
        if self.model.lora:
            raise R1kitError("onpolicy: model.lora is not supported yet (train the student's full weights)")
