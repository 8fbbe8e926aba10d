"""Checkpoints that a run can resume from exactly, written atomically.

Layout under a run directory:

    checkpoints/step-000050/           a plain Hugging Face folder: config.json, generation_config.json,
                                       model.safetensors (or shards + index), tokenizer files, and the
                                       chat template recording the prompt template trained with
    checkpoints/step-000050/trainer/   trainer_state.pt (optimizer, scheduler, RNG, step, data position)
                                       + ref_model.safetensors (only when the KL reference was reset)
    checkpoints/step-000050/adapter/   a LoRA run's adapter in peft's format (the top folder holds the
                                       merged weights, so eval / serve / vLLM read it unchanged)
    checkpoints/latest                 text: the name of the newest complete checkpoint

Only the policy's weights sit in the top folder: loaders that read every `*.safetensors` of a folder
without an index (vLLM does) would otherwise load the KL reference over the policy (issue 9). Resume
also reads checkpoints of the older layout, with trainer files in the top folder.

A checkpoint is written to `step-N.tmp` and renamed into place; `latest` is replaced only after
that, so a run killed mid-save leaves the previous checkpoint intact and never a half-written one.
"""

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1kit.errors import R1kitError

TRAINER_DIR = "trainer"  # inside a checkpoint: what resuming needs besides the policy


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, trainer_state: dict[str, Any],
                    ref_model=None, keep: int = 2, template: str | None = None, lora=None,
                    state_dict: dict | None = None) -> Path:
    """Save `checkpoints/step-{step:06d}` (layout in the module docstring); return its path.

    lora: the PeftModel around `model` in a LoRA run: the top folder gets its merged weights, adapter/ the adapter.
    state_dict: the policy's full weights when `model` is sharded (train.dist.full_state_dict); only the
    process that writes (rank 0) calls this.

    template: the prompt template the run trains with, recorded as the tokenizer's chat template
    (r1kit.models.save_model); None keeps the tokenizer's own.
    """
    from r1kit.models import save_model

    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if lora is not None:
        from r1kit.models.lora import merged_copy, save_adapter

        save_model(merged_copy(lora), tokenizer, tmp, template=template)
        save_adapter(lora, tmp / "adapter")
    else:
        save_model(model, tokenizer, tmp, template=template, state_dict=state_dict)
    (tmp / TRAINER_DIR).mkdir()
    if ref_model is not None:
        from safetensors.torch import save_model as save_weights  # handles tied (shared) embedding weights
        save_weights(ref_model, str(tmp / TRAINER_DIR / "ref_model.safetensors"))
    torch.save({**trainer_state, "rng": rng_state()}, tmp / TRAINER_DIR / "trainer_state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _write_text_atomic(root / "latest", final.name)
    _prune(root, keep)
    return final


def save_run(dist, run_dir: Path, step: int, model, tokenizer, opt, sched, data_position: int, **kw) -> Path | None:
    """`save_checkpoint` for a run that may span processes (r1kit.train.dist): under fsdp2 every rank helps
    gather the full weights and optimizer state, rank 0 writes, and every rank returns once the checkpoint is
    complete -- its path on rank 0, None on the others. kw: save_checkpoint's ref_model, keep, template, lora."""
    from r1kit.train.dist import full_state_dict, optimizer_state

    weights, optimizer = full_state_dict(model), optimizer_state(model, opt)  # fsdp2: collectives
    path = None
    if dist.is_main:
        state = trainer_state(opt, sched, step, data_position, optimizer=optimizer)
        path = save_checkpoint(run_dir, step, model, tokenizer, state, state_dict=weights, **kw)
    dist.barrier()
    return path


def _trainer_file(ckpt: Path, name: str) -> Path:
    """`ckpt/trainer/name`, or `ckpt/name` for a checkpoint of the older layout that has only that."""
    new, old = Path(ckpt) / TRAINER_DIR / name, Path(ckpt) / name
    return old if not new.is_file() and old.is_file() else new


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    marker = Path(run_dir) / "checkpoints" / "latest"
    if not marker.is_file():
        return None
    path = marker.parent / marker.read_text().strip()
    return path if _trainer_file(path, "trainer_state.pt").is_file() else None


def run_start(run_dir: Path, resume: bool, stage: str = "") -> Path | None:
    """The checkpoint a run continues from: the latest one with `resume`, else None for a fresh run.

    R1kitError (prefixed "<stage>: ") when --resume finds no checkpoint, or when a fresh run would
    write into a folder that already holds a run: nothing of an earlier run is ever overwritten.
    """
    prefix = f"{stage}: " if stage else ""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        raise R1kitError(f"{prefix}--resume: no checkpoint found in {run_dir / 'checkpoints'}")
    if not resume and (run_dir / "metrics.jsonl").exists():
        raise R1kitError(f"{prefix}{run_dir} already holds a run; pass --resume to continue it, or choose another out_dir")
    return ckpt


def open_run_dir(dist, run_dir: Path, cfg) -> None:
    """Create the run directory and save the resolved config -- rank 0 only, once every rank has checked the
    folder (run_start), so no rank finds another's files and takes them for an earlier run."""
    from r1kit.config import save_config

    dist.barrier()
    if dist.is_main:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        save_config(cfg, Path(run_dir) / "config.yaml")


def load_policy(model_cfg, ckpt: Path | None, device: str):
    """(the policy to train, its PeftModel or None) for a run starting fresh (ckpt None) or resuming from
    `ckpt`. Without model.lora: the checkpoint's weights, else model.name_or_path. With model.lora: the base
    from model.name_or_path and the adapter from ckpt/adapter; only the adapter trains (r1kit.models.lora)."""
    if model_cfg.lora:
        from r1kit.models.lora import load_lora_policy

        return load_lora_policy(model_cfg.name_or_path, model_cfg.lora, dtype=model_cfg.dtype, device=device,
                                adapter_dir=ckpt / "adapter" if ckpt else None)
    from r1kit.models import load_model

    return load_model(str(ckpt) if ckpt else model_cfg.name_or_path, dtype=model_cfg.dtype, device=device), None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(_trainer_file(ckpt, "trainer_state.pt"), weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise R1kitError(f"cannot read trainer state in {ckpt}: {e}") from None


def trainer_state(opt, sched, step: int, data_position: int, optimizer: dict | None = None) -> dict[str, Any]:
    """What `save_checkpoint` stores to resume exactly (it adds the RNG state). optimizer: the optimizer's
    state_dict when `opt` is sharded (train.dist.optimizer_state), else opt.state_dict()."""
    return {"optimizer": optimizer if optimizer is not None else opt.state_dict(), "scheduler": sched.state_dict(),
            "step": step, "data_position": data_position}


def restore_trainer_state(ckpt: Path, opt, sched, model=None) -> tuple[int, int]:
    """Load optimizer, scheduler and RNG state from `ckpt`; returns (step, data position). model: the
    optimizer's model when it may be sharded (fsdp2: train.dist.load_optimizer_state shards the state)."""
    from r1kit.train.dist import load_optimizer_state

    state = load_trainer_state(ckpt)
    load_optimizer_state(model, opt, state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"], state["data_position"]


def load_ref_weights(ckpt: Path, ref_model) -> bool:
    """Load a saved KL reference into `ref_model`; False when the checkpoint has none."""
    path = _trainer_file(ckpt, "ref_model.safetensors")
    if not path.is_file():
        return False
    from safetensors.torch import load_model
    load_model(ref_model, str(path))
    return True
