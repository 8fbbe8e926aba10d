"""`r1kit pipeline`: several r1kit commands in order, each in its own folder, skipped when done, resumed when cut.

    r1kit pipeline recipes/r1-tiny.yaml [--out=runs/r1] [--until=reasoning_rl] [--stages.sft.steps=50 ...]

A pipeline file names an output folder and an ordered mapping of stages; each stage has a `kind`
(pipeline/stages.py) and the fields of that kind's config. A string `${name}` anywhere in a stage's
config is the output of the earlier stage `name` (a checkpoint folder, a filtered.jsonl):

    out: runs/r1-tiny
    stages:
      base: {kind: base_model, learn_steps: 700}
      r1_zero: {kind: grpo, model: {name_or_path: "${base}"}, steps: 150}
      traces: {kind: generate, model: "${r1_zero}", task: arithmetic, readable: true}

Each stage runs in `out/<NN>-<name>/` (its run directory) and leaves `stage.json` there: its kind, its
resolved config, the hashes of its inputs (`fingerprint`: the config with every `${…}` replaced by that
stage's output hash, plus the content hash of every local file or folder the config names), its status
and its output with that output's hash. On every run:

* a stage whose status is "done", whose fingerprint is unchanged and whose output still exists is skipped;
* a stage with the same fingerprint that did not finish is resumed: trainers from their latest
  checkpoint, `generate` from its samples.jsonl;
* a stage whose inputs changed is redone; its old folder is kept, renamed `<NN>-<name>.old-<hash>`.

A stage that fails stops the pipeline with one line naming the stage, its kind and the cause (exit 2);
everything finished, and the failed stage's partial output, stays on disk for the next run.

Under torchrun (`torchrun --nproc_per_node N -m r1kit pipeline FILE`) rank 0 keeps the records and the
logs; grpo and sft stages train on every process (train/dist.py, their `parallel` section), the other
kinds run on rank 0 while the rest wait.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1kit.errors import R1kitError
from r1kit.pipeline.stages import STATE_FILE, kind_of

REF = re.compile(r"\$\{([A-Za-z0-9_\-]+)\}")
BIG_FILE = 64 << 20
"""Files larger than this are hashed by size and modification time, not content (model shards)."""


@dataclass
class PipelineConfig:
    out: str = "runs/pipeline"
    """The pipeline's folder; stage `name` (the k-th) runs in `out/<kk>-<name>/`."""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Ordered stages: name -> {kind: ..., enabled: true, <fields of the kind's config>}."""
    until: str = ""
    """Stop after this stage (empty: run all)."""

    def __post_init__(self) -> None:
        if not self.stages:
            raise R1kitError("pipeline: no stages")
        for name, spec in self.stages.items():
            if not isinstance(spec, dict):
                raise R1kitError(f"pipeline: stage {name!r} must be a mapping with a `kind`")
            kind_of(name, spec.get("kind"))
        if self.until and self.until not in self.stages:
            raise R1kitError(f"pipeline: --until={self.until}: no such stage (stages: {', '.join(self.stages)})")


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of every file under a folder (relative path + bytes), sorted by path."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode() + b"\0")
        st = p.stat()
        if st.st_size > BIG_FILE:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
            continue
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def resolve(value: Any, outputs: dict[str, dict], stage: str, refs: dict[str, str]) -> Any:
    """`value` with each "${name}" replaced by stage `name`'s output path; the names used go into `refs`
    (name -> that output's hash)."""
    if isinstance(value, dict):
        return {k: resolve(v, outputs, stage, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs, stage, refs) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in outputs:
            raise R1kitError(f"pipeline: stage {stage!r} refers to ${{{name}}}, which is not an earlier, enabled stage")
        refs[name] = outputs[name]["hash"]
        return outputs[name]["path"]
    return REF.sub(sub, value)


def fingerprint(kind: str, config: dict, refs: dict[str, str]) -> str:
    """The stage's input hash: its kind, its config as written (the `${name}` references unresolved, the
    stage folder left out), the hashes of the upstream outputs it refers to, and the content hash of
    every existing local file or folder the config names."""
    files: dict[str, str] = {}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and v and len(v) < 4096 and "\n" not in v and Path(v).exists():
            files[v] = file_hash(Path(v))
    walk(config)
    blob = json.dumps({"kind": kind, "config": config, "refs": refs, "files": files}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_state(stage_dir: Path) -> dict | None:
    try:
        return json.loads((stage_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(stage_dir: Path, state: dict) -> None:
    tmp = stage_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, default=str))
    tmp.replace(stage_dir / STATE_FILE)


def stage_config(name: str, spec: dict, stage_dir: Path, outputs: dict[str, dict]):
    """(the kind, the typed config, the stage's fingerprint) of one stage, references resolved."""
    from r1kit.config import from_dict

    kind = kind_of(name, spec.get("kind"))
    raw = {k: v for k, v in spec.items() if k not in ("kind", "enabled")}
    if kind.out_key and kind.out_key in raw:
        raise R1kitError(f"pipeline: stage {name!r}: `{kind.out_key}` is set by the pipeline (the stage's folder)")
    refs: dict[str, str] = {}
    resolved = resolve(raw, outputs, name, refs)
    if kind.out_key:
        resolved[kind.out_key] = str(stage_dir)
    try:
        cfg = from_dict(kind.config_class(), resolved)
    except R1kitError as e:
        raise R1kitError(f"pipeline: stage {name!r} ({spec['kind']}): {e}") from None
    return kind, cfg, fingerprint(spec["kind"], raw, refs)


def open_stage(name: str, spec: dict, stage_dir: Path, outputs: dict[str, dict], fp: str, config: dict,
               log=print) -> dict:
    """Decide whether a stage is skipped, redone or resumed (module docstring); for one that runs, make its
    folder and write its "running" record. Returns the skip result (run_stage's) or that record."""
    state = read_state(stage_dir)
    if state and state.get("fingerprint") == fp and state.get("status") == "done" and Path(state["output"]).exists():
        log(f"pipeline: [{name}] done earlier with the same inputs: skipped ({state['output']})")
        return {"path": state["output"], "hash": state["output_hash"], "status": "skipped",
                "seconds": state.get("seconds", 0.0)}
    if state and state.get("fingerprint") != fp:
        old = stage_dir.with_name(f"{stage_dir.name}.old-{str(state.get('fingerprint'))[:8]}")
        if old.exists():
            old = old.with_name(f"{old.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        stage_dir.rename(old)
        log(f"pipeline: [{name}] inputs changed: redoing it (the earlier run is kept in {old})")
        state = None
    elif state and state.get("status") == "done":
        log(f"pipeline: [{name}] its output {state.get('output')} is gone: running it again")
    elif state:
        log(f"pipeline: [{name}] interrupted earlier ({state.get('status')}): resuming")
    else:
        log(f"pipeline: [{name}] running ({spec['kind']}) in {stage_dir}")
    stage_dir.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "kind": spec["kind"], "fingerprint": fp, "status": "running", "config": config,
              "inputs": {k: v["hash"] for k, v in outputs.items() if k in _refs(spec)},
              "seconds": (state or {}).get("seconds", 0.0), "runs": (state or {}).get("runs", 0) + 1}
    write_state(stage_dir, record)
    return record


def run_stage(name: str, spec: dict, stage_dir: Path, outputs: dict[str, dict], progress: bool = True,
              log=print, dist=None) -> dict:
    """Run, resume or skip one stage (module docstring); returns {"path", "hash", "status", "seconds"}.

    Under torchrun (`dist`) rank 0 decides and keeps the record; a distributed kind (grpo, sft) runs on every
    rank, any other on rank 0 while the others wait; every rank returns the same result or raises the same error."""
    from r1kit.config import to_dict
    from r1kit.train.dist import Dist

    dist = dist or Dist()
    kind, cfg, fp = stage_config(name, spec, stage_dir, outputs)
    record = dist.gather(open_stage(name, spec, stage_dir, outputs, fp, to_dict(cfg), log) if dist.is_main
                         else None)[0]
    if record["status"] == "skipped":
        return record
    t0 = time.perf_counter()
    path, error = None, None
    try:
        if dist.is_main or kind.distributed:
            path = str(kind.run(cfg, stage_dir, progress and dist.is_main))
    except R1kitError as e:
        error = str(e)
    except KeyboardInterrupt as e:
        if dist.is_main:
            write_state(stage_dir, {**record, "status": "interrupted", "error": str(e),
                                    "seconds": record["seconds"] + time.perf_counter() - t0})
        raise
    outcomes = dist.gather((path, error))
    path, error = outcomes[0][0], next((e for _, e in outcomes if e), None)
    record["seconds"] += time.perf_counter() - t0
    if error is not None:
        if dist.is_main:
            write_state(stage_dir, {**record, "status": "failed", "error": error})
        raise R1kitError(f"pipeline: stage {name!r} ({spec['kind']}) failed: {error} (finished stages and this "
                         f"stage's partial output are kept in {stage_dir.parent}; rerun to resume)")
    record.update(status="done", output=path, output_hash=file_hash(Path(path)) if dist.is_main else None)
    record["output_hash"] = dist.gather(record["output_hash"])[0]
    if dist.is_main:
        write_state(stage_dir, record)
    return {"path": path, "hash": record["output_hash"], "status": "ran", "seconds": record["seconds"]}


def _refs(spec: Any) -> set[str]:
    return set(REF.findall(json.dumps(spec, default=str)))


def run_pipeline(cfg: PipelineConfig, progress: bool = True, log=print) -> dict[str, dict]:
    """Every enabled stage in order (up to `until`); returns name -> its result (run_stage). Writes
    out/pipeline.yaml (this config) and out/pipeline.json (each stage's status, output and seconds)."""
    from r1kit.config import save_config

    dist = pipeline_dist()
    log = log if dist.is_main else (lambda *args, **kw: None)
    out = Path(cfg.out)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "pipeline.yaml")
    results: dict[str, dict] = {}
    for k, (name, spec) in enumerate(cfg.stages.items(), 1):
        if spec.get("enabled", True) is False:
            log(f"pipeline: [{name}] disabled")
        else:
            results[name] = run_stage(name, spec, out / f"{k:02d}-{name}", results, progress, log, dist)
            if dist.is_main:
                (out / "pipeline.json").write_text(json.dumps(results, indent=1))
        if name == cfg.until:
            break
    return results


def pipeline_dist():
    """Under torchrun: the process group, started here (NCCL when a GPU is present, else gloo) and shared
    with the training stages; otherwise Dist() -- one process, no collectives."""
    import torch

    from r1kit.train.dist import init_dist, launched, process_dist

    if launched():
        init_dist("ddp", "cuda" if torch.cuda.is_available() else "cpu")
    return process_dist()


def load_pipeline(path: str, overrides: list[str]) -> PipelineConfig:
    """The pipeline file <- `--out=`, `--until=`, `--stages.NAME.key=value` overrides."""
    from r1kit.config import _merge, from_dict, parse_overrides, read_yaml

    return from_dict(PipelineConfig, _merge(read_yaml(path), parse_overrides(overrides)))
