"""`r1kit eval`: the R1 protocol on named benchmarks, for a local model or an OpenAI-compatible endpoint.

    run_eval(EvalRunConfig(model="runs/x/checkpoints/step-000150", benchmarks=["arithmetic"], out="runs/ev"))

For each benchmark: k samples per problem at T = 0.6, top-p 0.95 (report §3 "Evaluation Setup") through
the one evaluator (rollout.evaluate.sample_and_score: its seeding and chunking rule, every sample scored by
r1kit.verify, exactly as the GRPO loop's held-out evaluation), each scored sample appended to
`<out>/<benchmark>/samples.jsonl` as soon as it exists, then
`summary.json` (pass@1, pass@k for every k <= n, cons@k, truncation, length, parse failures).
`<out>/summary.json` and `<out>/table.md` (the report's table shape, with its published rows for
reference) cover all benchmarks. Running again with the same `out` resumes: samples already on disk
are read back, never regenerated and never counted twice. Local sampling is deterministic per chunk
of problems (a fixed seed per chunk), so a resumed run reproduces an uninterrupted one, and a checkpoint
evaluated here gets the pass@1 its training run logged with the same settings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from r1kit.errors import R1kitError


@dataclass
class EvalRunConfig:
    model: str = ""
    """A local checkpoint directory or hub name; with base_url, the served model's name."""
    base_url: str = ""
    """An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; empty = sample locally."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the endpoint's API key (never put keys in configs)."""
    benchmarks: list[str] = field(default_factory=lambda: ["aime24"])
    """Names (r1kit.eval.benchmarks.SPECS) or .jsonl files (with scorer)."""
    data: str = ""
    """A data file or hub dataset for a single benchmark, overriding its default source."""
    data_dir: str = ""
    """A folder holding <benchmark>.jsonl files (e.g. ../shared/data); default $R1KIT_DATA."""
    scorer: str = ""
    """For custom .jsonl benchmarks: math, choice or code."""
    samples: int = 0
    """k samples per problem; 0 = the benchmark's default (64 AIME/GPQA, 16 MATH-500/AMC, 8 others)."""
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    """Capped to the model's context (local)."""
    stop: list[str] = field(default_factory=list)
    """Stop strings (kept in the completion), e.g. ["</answer>"] for the R1-Zero template."""
    limit: int = 0
    """Evaluate only the first N problems (0 = all)."""
    template: str = "chat"
    """Local prompt form: chat (R1 usage, response begins with <think>), r1_zero, or a "{prompt}" string."""
    prompt: str = ""
    """Override of the user-turn text; "{problem}" (and for choice "{choices}", "{letters}") is filled in."""
    task_args: dict = field(default_factory=dict)
    """Arguments of a synthetic task benchmark (arithmetic, countdown)."""
    seed: int = 0
    out: str = ""
    """Output directory; running again with the same one resumes."""
    concurrency: int = 8
    """Endpoint: requests in flight."""
    stream: bool = False
    """Endpoint: use server-sent events."""
    max_retries: int = 6
    """Endpoint: retries of a request on 429 / 5xx / timeouts / malformed replies, with exponential backoff."""
    retry_backoff: float = 1.0
    """Endpoint: the first retry's wait in seconds (doubling each time, capped at 60 s)."""
    problems_per_batch: int = 16
    """Problems sampled together, which fixes the seeds (rollout.evaluate): locally one engine batch of
    problems_per_batch * k rows; an endpoint is sent a request per problem, `concurrency` at a time."""
    device: str = "auto"
    dtype: str = "float32"
    reference: bool = True
    """Add the report's published rows to table.md."""

    def __post_init__(self) -> None:
        if not self.model:
            raise R1kitError("--model is required (a checkpoint directory, a hub name, or with --base_url the "
                             "served model's name)")
        if not self.benchmarks:
            raise R1kitError("no benchmarks given")
        if self.samples < 0 or self.limit < 0 or self.problems_per_batch < 1 or self.concurrency < 1:
            raise R1kitError("samples and limit must be >= 0, problems_per_batch and concurrency >= 1")
        if not 0 <= self.temperature <= 2 or not 0 < self.top_p <= 1 or self.max_new_tokens < 1:
            raise R1kitError("temperature must be in [0, 2], top_p in (0, 1], max_new_tokens >= 1")
        if self.data and len(self.benchmarks) > 1:
            raise R1kitError("--data names the file of one benchmark; for several, use --data_dir")
        if self.base_url and self.template != "chat":
            raise R1kitError("an endpoint is sent chat messages: template must be 'chat'")


def run_eval(cfg: EvalRunConfig, progress: bool = True) -> dict:
    """Evaluate every benchmark in `cfg`; returns {benchmark: summary}. See the module docstring."""
    from r1kit.config import save_config
    from r1kit.eval.benchmarks import load_benchmark
    from r1kit.eval.report import markdown_table

    tasks = [load_benchmark(name, cfg.data if len(cfg.benchmarks) == 1 else "", cfg.data_dir, cfg.scorer,
                            cfg.task_args) for name in cfg.benchmarks]  # bad names fail before any work
    backend = _backend(cfg)  # a missing model or a dead endpoint also fails before anything is written
    cfg.out = cfg.out or f"runs/eval-{Path(cfg.model).name}"
    out = Path(cfg.out)
    summaries = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        for task in tasks:
            summaries[task.name] = evaluate_benchmark(backend, task, cfg, out / task.name, progress)
    finally:
        backend.close()
    (out / "summary.json").write_text(json.dumps(summaries, indent=2))
    rows = [{"model": cfg.model, "benchmark": name, "summary": s} for name, s in summaries.items()]
    (out / "table.md").write_text(markdown_table(rows, reference=cfg.reference) + "\n")
    return summaries


def _backend(cfg: EvalRunConfig):
    if cfg.base_url:
        from r1kit.eval.endpoint import EndpointBackend

        backend = EndpointBackend(cfg.base_url, cfg.model, os.environ.get(cfg.api_key_env),
                                  concurrency=cfg.concurrency, stream=cfg.stream, max_retries=cfg.max_retries,
                                  backoff=cfg.retry_backoff)
        backend.check()
        return backend
    from r1kit.eval.local import LocalBackend

    return LocalBackend(cfg.model, cfg.template, cfg.device, cfg.dtype)


def eval_settings(cfg: EvalRunConfig, k: int):
    """The evaluator's settings (rollout.evaluate.EvalSettings) of this run with k samples per problem."""
    from r1kit.rollout.evaluate import EvalSettings

    return EvalSettings(samples=k, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                        stop=tuple(cfg.stop), seed=cfg.seed, problems_per_batch=cfg.problems_per_batch)


def evaluate_benchmark(backend, task, cfg: EvalRunConfig, folder: Path, progress: bool = True) -> dict:
    """Sample what is missing from `folder/samples.jsonl` through the one evaluator, then summarise
    everything on disk. k = cfg.samples, else the benchmark's default (eval.benchmarks.default_samples)."""
    from r1kit.eval.benchmarks import benchmark_examples, default_samples
    from r1kit.eval.prompts import user_prompt
    from r1kit.eval.samples import SampleLog
    from r1kit.progress import StepProgress
    from r1kit.rollout.evaluate import sample_and_score

    k = cfg.samples or default_samples(task.name)
    examples = benchmark_examples(task, cfg.limit)
    log = SampleLog(folder / "samples.jsonl", examples, k, task.scorer)
    with StepProgress(len(examples) * k, log.count, enabled=progress, description=task.name) as bar:
        def record(index: int, example, records: list) -> None:
            log.write(records)
            bar.update(log.count, {"eval/pass@1": log.running_pass_at_1})

        sample_and_score(backend, task, examples, eval_settings(cfg, k), missing=log.missing, on_problem=record,
                         user_text=lambda ex: user_prompt(task, ex, cfg.prompt))
    summary = {"benchmark": task.name, "model": cfg.model, "scorer": task.scorer, "temperature": cfg.temperature,
               "top_p": cfg.top_p, **log.summary()}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
