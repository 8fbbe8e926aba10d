"""`r1kit distill`: a teacher's reasoning into a student, as one resumable command (a two-stage pipeline).

    r1kit distill --config recipes/distill-tiny.yaml [--teacher=... --student=... --method=onpolicy]

method "sft" (what DeepSeek-R1 did for its six distilled models, §2.4: SFT only, no RL on the students):
    traces   generate: the teacher samples `generate.samples` completions per problem (a local checkpoint
             or, with base_url, an OpenAI-compatible endpoint), verified and filtered (pipeline/filters.py)
    student  sft: the student fine-tuned on traces' filtered.jsonl
method "onpolicy" (not in the report; newer systems use it): one stage, the student samples and the
teacher scores every sampled token; the loss is the per-token reverse KL (train/onpolicy.py). The teacher
must be a local checkpoint with the student's tokenizer.

Stages run in `out/01-traces`, `out/02-student` with the pipeline's skip and resume rules
(pipeline/runner.py): rerunning after a failure or a kill redoes nothing that finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from r1kit.errors import R1kitError


@dataclass
class DistillConfig:
    teacher: str = ""
    """The teacher: a local checkpoint, or with base_url the served model's name."""
    base_url: str = ""
    """An OpenAI-compatible endpoint serving the teacher (method sft only)."""
    student: str = ""
    """The student's starting model: a local folder or hub name."""
    method: str = "sft"
    """sft (generate -> filter -> SFT) or onpolicy (per-token reverse KL on the student's own samples)."""
    out: str = "runs/distill"
    generate: dict[str, Any] = field(default_factory=dict)
    """GenerateConfig fields for the traces stage (task, data, samples, limit, filters, ...)."""
    sft: dict[str, Any] = field(default_factory=dict)
    """SFTRunConfig fields for the student stage (data.max_length, steps, optim, ...)."""
    onpolicy: dict[str, Any] = field(default_factory=dict)
    """OnPolicyRunConfig fields for method onpolicy (data, rollout, steps, optim, eval, ...)."""

    def __post_init__(self) -> None:
        if not self.teacher or not self.student:
            raise R1kitError("distill: --teacher and --student are required (checkpoint folders or hub names)")
        if self.method not in ("sft", "onpolicy"):
            raise R1kitError(f"distill: method must be sft or onpolicy, got {self.method!r}")
        if self.method == "onpolicy" and self.base_url:
            raise R1kitError("distill: method onpolicy scores every student token with the teacher, which needs "
                             "a local teacher checkpoint, not an endpoint")


def distill_stages(cfg: DistillConfig) -> dict[str, dict]:
    """The pipeline stages of `cfg` (pipeline/runner.py's format)."""
    from r1kit.config import _merge

    if cfg.method == "onpolicy":
        spec = _merge(cfg.onpolicy, {"model": {"name_or_path": cfg.student}, "teacher": {"name_or_path": cfg.teacher}})
        return {"student": {"kind": "onpolicy", **spec}}
    traces = {"kind": "generate", **_merge(cfg.generate, {"model": cfg.teacher, "base_url": cfg.base_url})}
    student = _merge(cfg.sft, {"model": {"name_or_path": cfg.student}, "data": {"path": "${traces}"}})
    return {"traces": traces, "student": {"kind": "sft", **student}}


def run_distill(cfg: DistillConfig, progress: bool = True, log=print) -> dict[str, dict]:
    from r1kit.pipeline.runner import PipelineConfig, run_pipeline

    return run_pipeline(PipelineConfig(out=cfg.out, stages=distill_stages(cfg)), progress=progress, log=log)
