"""The demo's tiny base model: a random Qwen2 taught the task's answer format, mostly without reasoning.

R1-Zero starts from a *base* model that can already write answers and can, now and then, reason
before answering (DeepSeek-R1 §2.2). At toy scale we make one: a random transformers model with a
locally trained tokenizer, pretrained by SFT on correct examples of which `steps_share` (30%)
work the problem out digit by digit inside <think>…</think> and the rest answer directly with an
empty think block. Such a model mostly answers directly and mostly wrong; RL then teaches it that
writing the steps out pays (FIELD-NOTES: the R1-Zero effect at toy scale).

The result is cached by a hash of its settings, so a second demo run skips pretraining.
"""

import hashlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch


@dataclass
class BaseModelConfig:
    arch: str = "qwen2"
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 384
    digits: int = 5
    steps_share: float = 0.3
    """Share of pretraining examples that show per-digit steps inside <think>."""
    pretrain_steps: int = 800
    batch_size: int = 128
    lr: float = 3e-3
    n_examples: int = 20000
    seed: int = 0
    bf16_autocast: bool = True
    """Pretrain under bf16 autocast on CPU (AMX: ~1.9x faster steps, FIELD-NOTES); weights stay fp32."""


def cache_root() -> Path:
    return Path(os.environ.get("R1KIT_CACHE") or Path.home() / ".cache" / "r1kit")


def cache_key(cfg: BaseModelConfig) -> str:
    from r1kit import __version__

    blob = json.dumps({**asdict(cfg), "version": __version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretraining_pairs(task, cfg: BaseModelConfig, template: str, tokenizer) -> list[tuple[str, str]]:
    from r1kit.data.templates import render_prompt

    rng = random.Random(cfg.seed)
    examples = task.examples("train", cfg.n_examples)
    return [(render_prompt(ex.problem, template, tokenizer), task.solution(ex, show_steps=rng.random() < cfg.steps_share))
            for ex in examples]


def build_base_model(cfg: BaseModelConfig, out_dir: Path, template: str = "r1_zero", log=print) -> Path:
    """Build the tokenizer and a random model, pretrain it by SFT, save to `out_dir` (HF format)."""
    from r1kit.data.tasks import get_task
    from r1kit.models import build_tokenizer, load_model, load_tokenizer, new_model
    from r1kit.train.sft import SFTConfig, sft_train

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tokenizer = build_tokenizer()
    arch_kwargs = {k: getattr(cfg, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                 "num_key_value_heads", "intermediate_size")}
    new_model(cfg.arch, "tiny", tmp, seed=cfg.seed, tokenizer=tokenizer, **arch_kwargs)
    model, tokenizer = load_model(str(tmp)), load_tokenizer(str(tmp))
    task = get_task("arithmetic", digits=cfg.digits, seed=cfg.seed)
    pairs = pretraining_pairs(task, cfg, template, tokenizer)
    sft = SFTConfig(steps=cfg.pretrain_steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
    t0 = time.perf_counter()

    def on_step(step: int, loss: float) -> None:
        if step % 100 == 0 or step == sft.steps - 1:
            log(f"  pretrain step {step + 1}/{sft.steps}  loss {loss:.3f}  ({time.perf_counter() - t0:.0f}s)")

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16_autocast and not torch.cuda.is_available()):
        sft_train(model, tokenizer, pairs, sft, on_step=on_step)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "r1kit_base.json").write_text(json.dumps({**asdict(cfg), "pretrain_seconds": time.perf_counter() - t0}, indent=1))
    if out_dir.exists():
        import shutil
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def get_base_model(cfg: BaseModelConfig, reuse: bool = True, log=print) -> tuple[Path, bool]:
    """Path of the cached base model for `cfg` (built if absent); also whether it was reused."""
    path = cache_root() / f"demo-base-{cache_key(cfg)}"
    if reuse and (path / "config.json").is_file() and (path / "r1kit_base.json").is_file():
        return path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    return build_base_model(cfg, path, log=log), False
