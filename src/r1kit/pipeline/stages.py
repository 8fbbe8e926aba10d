"""The kinds of stage a pipeline runs: each is one r1kit command, in its own folder.

    kind         config class (fields as in the command's recipe)       output (what `${stage}` names)
    base_model   pipeline.base_model.BaseModelConfig                     the model folder (stage/model)
    grpo         train.config.GRPORunConfig      (out_dir: the stage)    the final checkpoint
    sft          train.sft_config.SFTRunConfig   (out_dir: the stage)    the final checkpoint
    rm           train.rm_config.RMRunConfig     (out_dir: the stage)    the final checkpoint
    onpolicy     train.onpolicy_config.OnPolicyRunConfig (out_dir)       the final checkpoint
    generate     pipeline.generate.GenerateConfig (out: the stage)       stage/filtered.jsonl

A stage's folder is its run directory, so what a stage writes is what the command alone would write
(config.yaml, metrics.jsonl, checkpoints/, samples.jsonl, ...). Resuming an interrupted stage is the
command's own resume: trainers continue from their latest checkpoint, `generate` samples only what
samples.jsonl lacks. Config classes load lazily, so `r1kit pipeline` imports only the kinds it runs.
Under torchrun grpo and sft stages run on every process (multi-process training, train/dist.py); the
other kinds run on rank 0 while the other processes wait.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from r1kit.errors import R1kitError


@dataclass(frozen=True)
class StageKind:
    config: str
    """"module:Class" of the stage's config dataclass."""
    out_key: str | None
    """The config key the pipeline sets to the stage's folder (None: the kind writes under it itself)."""
    run: Callable[[object, Path, bool], Path]
    """run(cfg, stage_dir, progress) -> the output path; resumes what the folder holds."""
    distributed: bool = False
    """Under torchrun every process runs the stage (train.dist); otherwise rank 0 alone runs it, the others wait."""

    def config_class(self) -> type:
        module, name = self.config.split(":")
        return getattr(importlib.import_module(module), name)


def _trainer(module: str, fn: str, distributed: bool = False) -> Callable[[object, Path, bool], Path]:
    """A trainer stage; `distributed`: under torchrun every rank runs it (else rank 0 alone does)."""
    def run(cfg, stage_dir: Path, progress: bool) -> Path:
        from r1kit.train.checkpoint import latest_checkpoint
        from r1kit.train.dist import Dist, process_dist

        dist = process_dist() if distributed else Dist()
        resume = latest_checkpoint(stage_dir) is not None
        if not resume and dist.is_main:  # killed before its first checkpoint: nothing to resume, start afresh
            clear_stage_dir(stage_dir)
        dist.barrier()
        metrics = getattr(importlib.import_module(module), fn)(cfg, resume=resume, progress=progress)
        return Path(metrics["checkpoint"])
    return run


def _generate(cfg, stage_dir: Path, progress: bool) -> Path:
    from r1kit.pipeline.generate import run_generate

    run_generate(cfg, progress=progress)  # resumes from samples.jsonl by itself
    return stage_dir / "filtered.jsonl"


def _base_model(cfg, stage_dir: Path, progress: bool) -> Path:
    """The tiny pretrained base model, built (or taken from r1kit's cache) and copied into the stage."""
    from r1kit.pipeline.base_model import get_base_model

    path, _ = get_base_model(cfg, reuse=True, log=lambda line: print(line, flush=True))  # a line per 100 steps
    out = stage_dir / "model"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(path, out)
    return out


KINDS: dict[str, StageKind] = {
    "base_model": StageKind("r1kit.pipeline.base_model:BaseModelConfig", None, _base_model),
    "grpo": StageKind("r1kit.train.config:GRPORunConfig", "out_dir", _trainer("r1kit.train.grpo", "train_grpo", True),
                      distributed=True),
    "sft": StageKind("r1kit.train.sft_config:SFTRunConfig", "out_dir", _trainer("r1kit.train.sft_run", "train_sft", True),
                     distributed=True),
    "rm": StageKind("r1kit.train.rm_config:RMRunConfig", "out_dir", _trainer("r1kit.train.rm", "train_rm")),
    "onpolicy": StageKind("r1kit.train.onpolicy_config:OnPolicyRunConfig", "out_dir",
                          _trainer("r1kit.train.onpolicy", "train_onpolicy")),
    "generate": StageKind("r1kit.pipeline.generate:GenerateConfig", "out", _generate),
}

STATE_FILE = "stage.json"


def clear_stage_dir(stage_dir: Path) -> None:
    """Remove what a stage wrote, keeping the pipeline's own record of it."""
    for p in Path(stage_dir).iterdir() if Path(stage_dir).is_dir() else []:
        if p.name != STATE_FILE:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def kind_of(name: str, kind: object) -> StageKind:
    if kind not in KINDS:
        raise R1kitError(f"pipeline: stage {name!r}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    return KINDS[kind]
