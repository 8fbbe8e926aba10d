"""Checkpoints that a run can resume from exactly, written atomically.

Layout under a run directory:

    checkpoints/step-000050/   HF format (model.safetensors, config.json, tokenizer files)
                               + trainer_state.pt (optimizer, scheduler, RNG, step, data position)
                               + ref_model.safetensors (only when the KL reference was reset)
    checkpoints/latest         text: the name of the newest complete checkpoint

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
                    ref_model=None, keep: int = 2) -> Path:
    """Save model + tokenizer (HF format) and trainer state as `checkpoints/step-{step:06d}`."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if ref_model is not None:
        from safetensors.torch import save_model  # handles tied (shared) embedding weights
        save_model(ref_model, str(tmp / "ref_model.safetensors"))
    torch.save({**trainer_state, "rng": rng_state()}, tmp / "trainer_state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _write_text_atomic(root / "latest", final.name)
    _prune(root, keep)
    return final


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    marker = Path(run_dir) / "checkpoints" / "latest"
    if not marker.is_file():
        return None
    path = marker.parent / marker.read_text().strip()
    return path if (path / "trainer_state.pt").is_file() else None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(Path(ckpt) / "trainer_state.pt", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise R1kitError(f"cannot read trainer state in {ckpt}: {e}") from None


def load_ref_weights(ckpt: Path, ref_model) -> bool:
    """Load a saved KL reference into `ref_model`; False when the checkpoint has none."""
    path = Path(ckpt) / "ref_model.safetensors"
    if not path.is_file():
        return False
    from safetensors.torch import load_model
    load_model(ref_model, str(path))
    return True
