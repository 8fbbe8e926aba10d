"""`r1kit generate`: reasoning traces for cold start, rejection sampling and distillation.

    run_generate(GenerateConfig(model="runs/x/checkpoints/step-000150", task="arithmetic", limit=100,
                                samples=4, out="runs/traces"))
    r1kit generate --model deepseek-reasoner --base-url https://host/v1 --data problems.jsonl --out runs/t

n samples per problem of a task's split (default "train") from a local checkpoint (the rollout engine) or
an OpenAI-compatible endpoint (a served R1: its `reasoning_content` is the reasoning), through the one
evaluator's sampling rule (rollout.evaluate.sample_and_score: seeded chunks, every sample scored by
r1kit.verify). Three files in `out`:
  samples.jsonl   one line per (problem, sample), appended and flushed as samples arrive: problem_id,
                  sample, messages (the prompt turns), reasoning, content, answer, correct, finish_reason,
                  tokens, completion. A rerun with the same `out` samples only what is missing, so a run
                  killed or failed mid-way (a teacher endpoint going down) loses nothing it had finished.
  filtered.jsonl  the kept samples in chat form (pipeline.filters.to_chat), what `r1kit train sft` reads.
  report.json     samples generated, kept, and how many each filter removed (pipeline.filters.FILTERS).
With `judge_url`, samples whose gold verify cannot check are judged by an LLM that sees the reference
(pipeline/judge.py; verdicts in judgments.jsonl, resumable). With `mix_data` and `mix_ratio`, that share
of filtered.jsonl is non-reasoning SFT rows (R1 §2.3.3 mixes ~200k non-reasoning with ~600k reasoning).
Any failure is one line naming the stage and the file; what was finished stays on disk.
With `readable`, kept samples are rewritten into the cold-start form "reasoning, then summary" (by rule).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1kit.errors import R1kitError
from r1kit.pipeline.filters import FilterConfig, apply_filters, readable, to_chat

STAGE = "generate"


@dataclass
class GenerateConfig:
    model: str = ""
    """A local checkpoint directory or hub name; with base_url, the served model's name."""
    base_url: str = ""
    """An OpenAI-compatible endpoint (the teacher), e.g. http://127.0.0.1:8000/v1; empty = sample locally."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the endpoint's API key."""
    task: str = "jsonl"
    """A task name (r1kit.data.get_task): arithmetic, countdown, jsonl, choice, code."""
    data: str = ""
    """The problems file (or hub dataset) of a jsonl/choice/code task: task_args["path"]."""
    task_args: dict = field(default_factory=dict)
    """Further arguments of the task, e.g. {"digits": 3} for arithmetic."""
    split: str = "train"
    limit: int = 100
    """Problems to sample (the first `limit` of the split; 0 = all rows of a file task)."""
    samples: int = 4
    """n: samples per problem."""
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 4096
    stop: list[str] = field(default_factory=list)
    template: str = "chat"
    """Local prompt form: chat (R1 usage), r1_zero, or a "{prompt}" string; an endpoint is always sent chat."""
    prompt: str = ""
    """Override of the user turn; "{problem}" is filled in (default: eval.prompts.user_prompt)."""
    seed: int = 0
    problems_per_batch: int = 16
    concurrency: int = 8
    max_retries: int = 6
    retry_backoff: float = 1.0
    stream: bool = False
    device: str = "auto"
    dtype: str = "float32"
    out: str = ""
    """Output directory; running again with the same one resumes."""
    judge_url: str = ""
    """An OpenAI-compatible endpoint judging samples whose gold verify cannot check (pipeline/judge.py);
    empty = no judge (filters.keep_uncheckable decides)."""
    judge_model: str = ""
    """The judge's model name."""
    judge_api_key_env: str = "OPENAI_API_KEY"
    judge_max_tokens: int = 1024
    readable: bool = False
    """Rewrite kept samples into the cold-start form "reasoning, then summary" (pipeline.filters.readable)."""
    mix_data: str = ""
    """A chat JSONL (rows with "messages") of non-reasoning SFT data to mix into filtered.jsonl."""
    mix_ratio: float = 0.0
    """The share of filtered.jsonl's rows taken from mix_data, in [0, 1)."""
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        if not self.model:
            raise R1kitError(f"{STAGE}: --model is required (a checkpoint directory, or with --base-url the "
                             "served model's name)")
        if not self.out:
            raise R1kitError(f"{STAGE}: --out is required (the output directory; the same one again resumes)")
        if self.samples < 1 or self.limit < 0 or self.problems_per_batch < 1 or self.concurrency < 1:
            raise R1kitError(f"{STAGE}: samples, problems_per_batch and concurrency must be >= 1, limit >= 0")
        if self.base_url and self.template != "chat":
            raise R1kitError(f"{STAGE}: an endpoint is sent chat messages: template must be 'chat'")
        if self.judge_url and not self.judge_model:
            raise R1kitError(f"{STAGE}: --judge_url needs --judge_model (the judge's model name)")
        if not 0 <= self.mix_ratio < 1 or (self.mix_ratio > 0) != bool(self.mix_data):
            raise R1kitError(f"{STAGE}: mix_ratio must be in [0, 1), and above 0 exactly when mix_data is given")


def run_generate(cfg: GenerateConfig, progress: bool = True) -> dict:
    """Sample what samples.jsonl lacks, then filter everything on disk; returns the report (module docstring)."""
    from r1kit.config import save_config

    task, examples = _problems(cfg)  # a missing or empty input fails before anything is written
    mix = read_mix(cfg.mix_data) if cfg.mix_data else []
    backend = _backend(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    log = TraceLog(out / "samples.jsonl", examples, cfg.samples)
    try:
        _sample(backend, task, examples, cfg, log, progress)
    except R1kitError as e:
        raise R1kitError(f"{STAGE}: sampling failed after {log.count} of {len(examples) * cfg.samples} samples "
                         f"(kept in {log.path}; rerun to resume): {e}") from None
    finally:
        log.close()
        backend.close()
    samples = log.ordered()
    if cfg.judge_url:
        _judge(cfg, samples, examples, out / "judgments.jsonl")
    kept, removed = apply_filters(samples, cfg.filters)
    rows = mix_in([to_chat(readable(s) if cfg.readable else s) for s in kept], mix, cfg.mix_ratio, cfg.seed)
    with (out / "filtered.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    report = {"stage": STAGE, "model": cfg.model, "task": task.name, "problems": len(examples),
              "samples": len(samples), "kept": len(kept), "removed": removed,
              "correct": sum(s.get("correct") is True for s in samples),
              "uncheckable": sum(s.get("correct") is None for s in samples),
              "judged_correct": sum(s.get("correct") is None and s.get("judged") is True for s in samples),
              "mixed_in": len(rows) - len(kept), "rows": len(rows), "filters": asdict(cfg.filters)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def _problems(cfg: GenerateConfig) -> tuple:
    """The task and the problems to sample; R1kitError naming the stage and the input when missing or empty."""
    from r1kit.data import get_task

    args = dict(cfg.task_args)
    if cfg.data:
        args["path"] = cfg.data
    source = args.get("path") or cfg.task
    try:
        task = get_task(cfg.task, **args)
        examples = task.examples(cfg.split, cfg.limit or None)
    except R1kitError as e:
        raise R1kitError(f"{STAGE}: {e}" if str(source) in str(e) else f"{STAGE}: {source}: {e}") from None
    if not examples:
        raise R1kitError(f"{STAGE}: no {cfg.split} problems in {source}")
    return task, examples


def _backend(cfg: GenerateConfig):
    """The teacher: an EndpointBackend (checked once, so a dead URL fails before any work) or a local model."""
    if cfg.base_url:
        from r1kit.eval.endpoint import EndpointBackend

        backend = EndpointBackend(cfg.base_url, cfg.model, os.environ.get(cfg.api_key_env),
                                  concurrency=cfg.concurrency, stream=cfg.stream, max_retries=cfg.max_retries,
                                  backoff=cfg.retry_backoff)
        try:
            backend.check()
        except R1kitError as e:
            raise R1kitError(f"{STAGE}: {e}") from None
        return backend
    from r1kit.eval.local import LocalBackend

    try:
        return LocalBackend(cfg.model, cfg.template, cfg.device, cfg.dtype)
    except R1kitError as e:
        raise R1kitError(f"{STAGE}: {e}") from None


def _judge(cfg: GenerateConfig, samples: list[dict], examples: list, path: Path) -> None:
    """Judge the samples verify could not score; verdicts kept in `path` (resumable), set as sample["judged"]."""
    from r1kit.eval.endpoint import EndpointBackend
    from r1kit.eval.samples import read_complete_lines
    from r1kit.pipeline.judge import judge_samples, needs_judge

    done = {(r.get("problem_id"), r.get("sample")): r.get("judged") for r in read_complete_lines(path)}
    for s in samples:
        s["judged"] = done.get((s["problem_id"], s["sample"]))
    todo = [s for s in samples if needs_judge(s)]
    if not todo:
        return
    judge = EndpointBackend(cfg.judge_url, cfg.judge_model, os.environ.get(cfg.judge_api_key_env),
                            concurrency=cfg.concurrency, max_retries=cfg.max_retries, backoff=cfg.retry_backoff)
    with path.open("a", encoding="utf-8") as f:
        def record(sample: dict, verdict: bool | None) -> None:
            sample["judged"] = verdict
            if verdict is not None:  # an unclear reply is asked again on the next run
                f.write(json.dumps({"problem_id": sample["problem_id"], "sample": sample["sample"],
                                    "judged": verdict}) + "\n")
                f.flush()
        try:
            judge.check()
            judge_samples(judge, todo, {ex.id: ex for ex in examples}, max_tokens=cfg.judge_max_tokens,
                          on_judged=record)
        except R1kitError as e:
            raise R1kitError(f"{STAGE}: the judge failed (verdicts so far kept in {path}; rerun to resume): {e}") \
                from None


def read_mix(path: str) -> list[dict]:
    """The non-reasoning SFT rows to mix in, as {"messages": [...]}: any chat shape data.chat loads (a local
    JSONL/JSON/Parquet file or a hub dataset); R1kitError "generate: <path>: ..." when missing, empty or bad."""
    from r1kit.data.chat import load_conversations

    return [{"messages": m} for m in load_conversations(path, stage=STAGE)]


def mix_in(rows: list[dict], mix: list[dict], ratio: float, seed: int = 0) -> list[dict]:
    """`rows` plus m rows of `mix` so that m / (len(rows) + m) = ratio, m = round(len(rows) * ratio / (1 - ratio)),
    at most len(mix); the mix rows drawn without replacement and everything shuffled, both seeded."""
    import random

    if not mix or ratio <= 0:
        return rows
    rng = random.Random(seed)
    m = min(len(mix), round(len(rows) * ratio / (1 - ratio)))
    out = rows + rng.sample(mix, m)
    rng.shuffle(out)
    return out


def _sample(backend, task, examples: list, cfg: GenerateConfig, log: TraceLog, progress: bool) -> None:
    """The missing samples through the one evaluator's rule, each appended to `log` as its problem finishes."""
    from r1kit.data.templates import split_reasoning
    from r1kit.eval.prompts import user_prompt
    from r1kit.progress import StepProgress
    from r1kit.rollout.evaluate import EvalSettings, sample_and_score

    settings = EvalSettings(samples=cfg.samples, temperature=cfg.temperature, top_p=cfg.top_p,
                            max_new_tokens=cfg.max_new_tokens, stop=tuple(cfg.stop), seed=cfg.seed,
                            problems_per_batch=cfg.problems_per_batch)
    user_text = lambda ex: user_prompt(task, ex, cfg.prompt)  # noqa: E731

    with StepProgress(len(examples) * cfg.samples, log.count, enabled=progress, description=STAGE) as bar:
        def record(index: int, example, records: list) -> None:
            messages = [{"role": "user", "content": user_text(example)}]
            rows = []
            for r in records:
                content = split_reasoning(r.completion, backend.think_open)[1] or ""
                rows.append({"problem_id": r.problem_id, "sample": r.sample, "messages": messages,
                             "reasoning": r.reasoning, "content": content, "answer": r.answer,
                             "correct": r.correct, "finish_reason": r.finish_reason, "tokens": r.tokens,
                             "completion": r.completion})
            log.write(rows)
            bar.update(log.count, {})

        sample_and_score(backend, task, examples, settings, user_text=user_text, missing=log.missing,
                         on_problem=record)


class TraceLog:
    """samples.jsonl: one JSON line per (problem id, sample index < n), append-only, flushed per problem.
    On opening, complete lines are read back (a torn last line, from a killed write, is cut off)."""

    def __init__(self, path: Path, examples: list, n: int):
        from r1kit.eval.samples import read_complete_lines  # the eval log's torn-line repair, shared

        self.path, self.examples, self.n = Path(path), examples, n
        ids = {ex.id for ex in examples}
        self.records: dict[tuple[str, int], dict] = {}
        for rec in read_complete_lines(self.path):
            key = (str(rec.get("problem_id")), rec.get("sample"))
            if key[0] in ids and isinstance(key[1], int) and 0 <= key[1] < n and isinstance(rec.get("messages"), list):
                self.records.setdefault(key, rec)
        self._file = self.path.open("a", encoding="utf-8")

    @property
    def count(self) -> int:
        return len(self.records)

    def missing(self, example) -> list[int]:
        return [i for i in range(self.n) if (example.id, i) not in self.records]

    def write(self, rows: list[dict]) -> None:
        for row in rows:
            key = (row["problem_id"], row["sample"])
            if key not in self.records:
                self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
                self.records[key] = row
        self._file.flush()

    def ordered(self) -> list[dict]:
        """Every sample on disk, problem by problem in task order, samples in index order."""
        return [self.records[(ex.id, i)] for ex in self.examples for i in range(self.n)
                if (ex.id, i) in self.records]

    def close(self) -> None:
        self._file.close()
