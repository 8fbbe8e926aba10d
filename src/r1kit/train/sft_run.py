"""Supervised fine-tuning on chat data, top to bottom: batch -> forward/backward -> step -> log -> checkpoint.

    r1kit train sft --config recipes/sft_tiny.yaml [--data.path=traces.jsonl ...] [--resume]

The R1 recipe's cold start and distillation stages: conversations (r1kit.data.chat) with the reasoning
inside the assistant turn, the loss on assistant tokens only (train/sft_data.py). One step takes
`data.batch_size` examples from a seeded shuffled stream (reshuffled each epoch, resumable), packs them
(or pads them, sorted by length), and accumulates gradients over forwards of `optim.micro_batch_size` rows:

    loss = sum over the step's assistant tokens of -log p(token | prefix) / (number of those tokens)

Every micro-batch adds its summed NLL divided by the step's token count, so the accumulated gradient is
exactly the full batch's whatever the micro-batch size. Checkpoints, resume, metrics.jsonl, TensorBoard
and plot.png follow GRPO's conventions (train/checkpoint.py, train/metrics.py); the saved tokenizer keeps
its own chat template (template "chat"), the form the model was trained in. With model.lora only LoRA
adapters train (r1kit.models.lora); checkpoints hold the merged weights plus adapter/, resume the base + adapter.
"""

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from r1kit.errors import R1kitError
from r1kit.train.checkpoint import (latest_checkpoint, load_policy, open_run_dir, restore_trainer_state, run_start,
                                   save_run)
from r1kit.train.dist import Dist
from r1kit.train.grpo import PromptStream
from r1kit.train.lean_forward import compute_dtype
from r1kit.train.metrics import MetricsLogger
from r1kit.train.optim import optimizer_for
from r1kit.train.sft_config import SFTRunConfig
from r1kit.train.sft_data import (ChatExample, accumulate_grad, encode_conversation, packing_is_exact, step_rows,
                                  special_token_ids, turn_end_ids)


@dataclass
class SFTRun:
    """Everything an SFT run holds between steps."""
    cfg: SFTRunConfig
    dir: Path
    device: str
    model: object
    tokenizer: object
    stream: PromptStream
    opt: object
    sched: object
    step: int = 0
    lora: object | None = None
    """With model.lora: the PeftModel around `model` (r1kit.models.lora); only its adapters train."""
    dist: Dist = field(default_factory=Dist)
    """This process's place in a torchrun launch (r1kit.train.dist); one process: Dist()."""


def tokenize_data(cfg: SFTRunConfig, tokenizer) -> tuple[list[ChatExample], int]:
    """The training examples, and how many were dropped for exceeding data.max_length."""
    from r1kit.data.chat import load_conversations

    d = cfg.data
    convs = load_conversations(d.path, stage="sft", split=d.split, hub_config=d.hub_config, limit=d.limit)
    examples = []
    for row, messages in enumerate(convs, 1):
        try:
            examples += encode_conversation(messages, tokenizer)
        except R1kitError as e:
            raise R1kitError(f"sft: {d.path}: row {row}: {e}") from None
    kept = [ex for ex in examples if len(ex.ids) <= d.max_length and any(ex.mask)]
    if not kept:
        raise R1kitError(f"sft: {d.path}: every example is longer than data.max_length={d.max_length} tokens")
    return kept, len(examples) - len(kept)


def stop_at_turn_end(model, tokenizer, examples: list[ChatExample]) -> list[int]:
    """Make generation stop where trained turns end: a turn-end token that is not an eos id yet (ChatML's
    "<|im_end|>" with a base model's "<|endoftext|>" eos) joins generation_config.eos_token_id, which the
    rollout engine, serve, transformers and vLLM all stop at. Returns the ids added."""
    from r1kit.rollout.stopping import eos_token_ids

    known = eos_token_ids(model, tokenizer)
    added = sorted(turn_end_ids(examples, special_token_ids(tokenizer)) - set(known))
    if added and getattr(model, "generation_config", None) is not None:
        model.generation_config.eos_token_id = known + added
    return added


def setup_sft(cfg: SFTRunConfig, resume: bool = False) -> tuple[SFTRun, int]:
    """Load and validate everything *before* writing to the run directory. Returns (run, dropped examples)."""
    from r1kit.models import load_tokenizer
    from r1kit.models.device import resolve_device
    from r1kit.train.dist import check_parallel, init_dist, prepare_model

    run_dir = Path(cfg.out_dir)
    dist, device = init_dist(cfg.parallel.strategy, resolve_device(cfg.model.device))  # under torchrun only
    check_parallel(dist, cfg, "data.batch_size", cfg.data.batch_size)
    ckpt = run_start(run_dir, resume, "sft")
    if not cfg.model.name_or_path:
        raise R1kitError("sft: model.name_or_path is not set")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    source = str(ckpt) if ckpt else cfg.model.name_or_path
    tokenizer = load_tokenizer(source)
    examples, dropped = tokenize_data(cfg, tokenizer)
    if cfg.epochs:  # the schedule and the loop both read cfg.steps; config.yaml records the result
        cfg.steps = max(1, math.ceil(cfg.epochs * len(examples) / cfg.data.batch_size))
    model, lora = load_policy(cfg.model, ckpt, device)  # with model.lora: base + adapter, the adapter trains
    if cfg.data.packing and not packing_is_exact(model, device, len(tokenizer)):
        raise R1kitError(f"sft: {cfg.model.name_or_path} does not keep packed examples apart "
                         f"(position ids restarting per example); set data.packing=false")
    for t in stop_at_turn_end(model, tokenizer, examples):
        name = tokenizer.convert_ids_to_tokens(t)
        if dist.is_main:
            print(f"sft: assistant turns end with {name!r}: added to generation_config.eos_token_id")
    prepare_model(model, dist, cfg.parallel.mixed_precision)  # torchrun: replicas made equal, or sharded (fsdp2)
    opt, sched = optimizer_for(model, cfg.optim, cfg.steps)
    run = SFTRun(cfg, run_dir, device, model, tokenizer, PromptStream(examples, cfg.seed), opt, sched, lora=lora,
                 dist=dist)
    if ckpt:
        run.step, run.stream.position = restore_trainer_state(ckpt, opt, sched, model)
    open_run_dir(dist, run_dir, cfg)  # rank 0, once every rank has checked the folder
    return run, dropped


def sft_step(run: SFTRun) -> dict[str, float]:
    """One optimizer step on the next data.batch_size examples. Returns the step's metrics."""
    cfg, t0 = run.cfg, time.perf_counter()
    # ---- batch: the next examples, packed (or padded) into forward batches ----
    examples = run.dist.block(run.stream.take(cfg.data.batch_size), "data.batch_size")  # torchrun: this rank's
    forwards = step_rows(examples, run.tokenizer.pad_token_id, cfg.data.max_length, cfg.data.packing,
                         cfg.optim.micro_batch_size)
    # ---- forward/backward: summed NLL / the step's target count (every rank's), accumulated ----
    run.model.train()
    run.opt.zero_grad(set_to_none=True)
    loss, n_targets = accumulate_grad(run.model, forwards, run.device, run.dist,
                                      compute_dtype(cfg.parallel, run.model))  # mixed precision: autocast
    # ---- update ----
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm  # fsdp2: a DTensor
    lr = run.sched.get_last_lr()[0]
    run.opt.step()
    run.sched.step()
    run.model.eval()
    run.step += 1
    dt = float(run.dist.max(torch.tensor([time.perf_counter() - t0]))[0])                    # slowest rank
    rows, n_tokens = run.dist.sum(torch.tensor([sum(f["input_ids"].shape[0] for f in forwards),
                                                sum(int(f["input_ids"].numel()) for f in forwards)])).tolist()
    return {"loss": loss, "grad_norm": float(grad_norm), "lr": lr, "target_tokens": n_targets,
            "rows": rows, "row_tokens": n_tokens,
            "epoch": run.stream.position / len(run.stream.examples), "step_time": dt,
            "tokens_per_s": n_tokens / max(dt, 1e-9)}


def save_sft(run: SFTRun) -> Path | None:
    """Write a checkpoint (rank 0; under fsdp2 every rank helps gather it first); its path on rank 0."""
    return save_run(run.dist, run.dir, run.step, run.model, run.tokenizer, run.opt, run.sched, run.stream.position,
                    keep=run.cfg.keep_checkpoints,
                    template="chat", lora=run.lora)  # its own chat template; LoRA: merged + adapter/


def train_sft(cfg: SFTRunConfig, resume: bool = False, progress: bool = True, console=None) -> dict:
    """Run SFT to cfg.steps; returns the last step's metrics with "checkpoint", "plot" and "dropped"."""
    from r1kit.progress import StepProgress

    class SFTProgress(StepProgress):
        KEYS = (("loss", "loss"), ("lr", "lr"), ("epoch", "epoch"))

    run, dropped = setup_sft(cfg, resume)
    main = run.dist.is_main  # under torchrun rank 0 logs and writes; every rank trains
    logger = MetricsLogger(run.dir, resume_step=run.step) if main else None
    metrics: dict = {}
    with SFTProgress(cfg.steps, start=run.step, enabled=progress and main, console=console, description="sft") as bar:
        while run.step < cfg.steps:
            metrics = sft_step(run)
            if main:
                logger.log(run.step, metrics)
            bar.update(run.step, metrics)
            # ---- checkpoint ----
            if (cfg.save_every and run.step % cfg.save_every == 0) or run.step == cfg.steps:
                save_sft(run)
    if main:
        logger.close()
        metrics["plot"] = str(plot_sft(run.dir / "metrics.jsonl", run.dir / "plot.png"))
    run.dist.barrier()
    metrics["checkpoint"] = str(latest_checkpoint(run.dir))
    metrics["dropped"] = dropped
    return metrics


def plot_sft(metrics_path: Path, out_png: Path) -> Path:
    """Training loss and learning rate over steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from r1kit.train.metrics import read_metrics

    rows = [r for r in read_metrics(metrics_path) if r.get("loss") is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=1)
    ax1.set(xlabel="step", ylabel="nats / assistant token", title="SFT loss")
    ax2.plot([r["step"] for r in rows], [r.get("lr") for r in rows], lw=1, color="C2")
    ax2.set(xlabel="step", ylabel="lr", title="Learning rate")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)
