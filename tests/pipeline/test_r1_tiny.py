"""recipes/r1-tiny.yaml end to end at reduced size: every stage of the R1 recipe and distillation runs, in
order, from the recipe file itself (only sizes shrunk), and a second run skips them all."""

import json
from pathlib import Path

import pytest

from r1kit.cli import main
from r1kit.config import _merge, read_yaml
from r1kit.pipeline.runner import PipelineConfig, run_pipeline

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "r1-tiny.yaml"

SHRINK = {  # per kind: the recipe's settings at a size that runs in seconds
    "base_model": {"learn_steps": 3, "pretrain_steps": 2, "n_examples": 64, "batch_size": 8,
                   "overrides": {"n_embd": 32, "n_head": 2, "n_inner": 64}},
    "grpo": {"steps": 2, "save_every": 1, "threads": 1, "data": {"train_size": 32, "test_size": 2},
             "rollout": {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 12},
             "eval": {"samples": 1, "max_new_tokens": 12}},
    "generate": {"limit": 3, "samples": 2, "max_new_tokens": 12,
                 "filters": {"correct": False, "truncated": False, "min_language_share": 0.0}},
    "sft": {"steps": 2, "epochs": 0.0, "threads": 1, "data": {"batch_size": 2, "max_length": 128}},
}


def shrunk_recipe(out: Path) -> PipelineConfig:
    data = read_yaml(RECIPE)
    stages = {name: _merge(spec, SHRINK[spec["kind"]]) for name, spec in data["stages"].items()}
    return PipelineConfig(out=str(out), stages=stages)


def test_recipe_names_the_report_stages():
    stages = read_yaml(RECIPE)["stages"]
    assert [s for s in stages if s in ("cold_start", "reasoning_rl", "rejection_sampling", "sft", "all_scenarios_rl")] \
        == ["cold_start", "reasoning_rl", "rejection_sampling", "sft", "all_scenarios_rl"]
    assert stages["sft"]["model"]["name_or_path"] == "${base}"  # stage 3 fine-tunes the base, not stage 2
    assert stages["reasoning_rl"]["rewards"]["language"] > 0 and "language" not in stages["r1_zero"]["rewards"]
    assert stages["distill"]["model"]["name_or_path"] == "${student_base}"


def test_r1_tiny_end_to_end_at_reduced_size(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("R1KIT_CACHE", str(tmp_path / "cache"))
    cfg = shrunk_recipe(tmp_path / "run")
    first = run_pipeline(cfg, progress=False, log=lambda *_: None)
    assert list(first) == list(cfg.stages) and all(r["status"] == "ran" for r in first.values())
    for name in ("cold_start", "sft", "distill"):
        assert (Path(first[name]["path"]) / "config.json").is_file()
    rows = [json.loads(x) for x in Path(first["cold_start_data"]["path"]).read_text().splitlines()]
    assert rows and all(r["messages"][-1]["role"] == "assistant" for r in rows)
    report = json.loads((tmp_path / "run" / "03-cold_start_data" / "report.json").read_text())
    assert report["samples"] == 6 and report["rows"] == len(rows)
    again = run_pipeline(cfg, progress=False, log=lambda *_: None)
    assert all(r["status"] == "skipped" for r in again.values())


def test_cli_until_stops_after_the_named_stage(tmp_path, monkeypatch, capsys, one_thread):
    import yaml

    monkeypatch.setenv("R1KIT_CACHE", str(tmp_path / "cache"))
    cfg = shrunk_recipe(tmp_path / "run")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"out": cfg.out, "stages": cfg.stages}, sort_keys=False))
    assert main(["pipeline", str(path), "--until=r1_zero", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "r1_zero" in out and "cold_start" not in out.split("[r1_zero]")[-1]
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.is_dir()) == ["01-base", "02-r1_zero"]
    with pytest.raises(SystemExit):
        main(["pipeline"])
