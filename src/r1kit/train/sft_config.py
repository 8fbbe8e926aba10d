"""Configuration of an SFT run (`r1kit train sft`): sections named as GRPO's where they mean the same.

    model.name_or_path, out_dir, steps, seed, save_every, keep_checkpoints, threads   as in GRPORunConfig
    optim.*                                   GRPO's OptimConfig; micro_batch_size = rows per forward
    data.path                                 the chat file or hub dataset (r1kit.data.chat)
"""

from dataclasses import dataclass, field

from r1kit.errors import R1kitError
from r1kit.train.config import ModelConfig, OptimConfig, ParallelConfig, check_mixed_precision


@dataclass
class SFTDataConfig:
    path: str = ""
    """Chat rows: a local .jsonl/.json/.parquet file or a hub dataset name (formats: r1kit.data.chat)."""
    split: str = "train"
    """The hub dataset's split (ignored for a local file)."""
    hub_config: str = ""
    """The hub dataset's configuration name, if it has several."""
    limit: int = 0
    """Use only the first N rows; 0 = all."""
    max_length: int = 2048
    """Most tokens per example (and per packed row); longer examples are dropped, and counted."""
    batch_size: int = 32
    """Examples per optimizer step (the loss is the token mean over all of them)."""
    packing: bool = True
    """Pack a step's examples into rows of max_length tokens, attention kept inside each example (position
    ids restart per example). False: pad rows, a step's examples sorted by length (length buckets)."""


@dataclass
class SFTRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5, warmup_steps=0, schedule="cosine"))
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    """Multi-process training under torchrun (r1kit.train.dist): ddp or fsdp2; data.batch_size is the global batch."""
    steps: int = 100
    epochs: float = 0.0
    """When > 0, train this many passes over the data instead: steps = ceil(epochs * examples / data.batch_size),
    examples counted after dropping the over-long ones (the R1 recipe: 2 epochs; distillation: 2-3)."""
    seed: int = 0
    out_dir: str = "runs/sft"
    save_every: int = 50
    """Write a checkpoint every N steps (and always at the end); 0 = only at the end."""
    keep_checkpoints: int = 2
    threads: int = 0
    """torch CPU threads; 0 = torch's default."""

    def __post_init__(self) -> None:
        check_mixed_precision(self.model, self.parallel)
        for name, value, low in (("steps", self.steps, 1), ("data.batch_size", self.data.batch_size, 1),
                                 ("data.max_length", self.data.max_length, 2), ("data.limit", self.data.limit, 0),
                                 ("optim.micro_batch_size", self.optim.micro_batch_size, 0),
                                 ("save_every", self.save_every, 0), ("epochs", self.epochs, 0)):
            if value < low:
                raise R1kitError(f"sft: {name} must be >= {low}, got {value}")
        if self.optim.schedule not in ("constant", "linear", "cosine"):
            raise R1kitError(f"sft: optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}")
