"""`r1kit pipeline`: stages in order, skipped when done with the same inputs, redone when they change,
resumed after a kill mid-stage; a bad input stops it with one line naming the stage and the file."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from r1kit.cli import main
from r1kit.errors import R1kitError
from r1kit.pipeline.runner import PipelineConfig, file_hash, fingerprint, load_pipeline, run_pipeline

BASE = {"kind": "base_model", "digits": 2, "learn_steps": 3, "pretrain_steps": 2, "n_examples": 64, "batch_size": 8,
        "overrides": {"n_embd": 32, "n_layer": 1, "n_head": 2, "n_inner": 64}}
TASK = {"task": "arithmetic", "task_args": {"digits": 2}}


def grpo(model: str, steps: int = 2, **kw) -> dict:
    return {"kind": "grpo", "model": {"name_or_path": model, "device": "cpu"}, "steps": steps, "save_every": 1,
            "threads": 1, "data": {**TASK, "train_size": 64, "test_size": 4},
            "rollout": {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 16},
            "eval": {"samples": 1, "max_new_tokens": 16}, **kw}


def stages() -> dict:
    return {
        "base": BASE,
        "rl": grpo("${base}"),
        "traces": {"kind": "generate", "model": "${rl}", **TASK, "template": "r1_zero", "limit": 3, "samples": 2,
                   "max_new_tokens": 16, "stop": ["</answer>"], "device": "cpu",
                   "filters": {"correct": False, "truncated": False, "min_language_share": 0.0, "dedup": False}},
        "sft": {"kind": "sft", "model": {"name_or_path": "${base}", "device": "cpu"}, "data": {"path": "${traces}",
                "max_length": 128, "batch_size": 2}, "steps": 2, "threads": 1},
    }


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("R1KIT_CACHE", str(tmp_path / "cache"))


def write(tmp_path, st: dict) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "stages": st}, sort_keys=False))
    return path


def state(tmp_path, folder: str) -> dict:
    return json.loads((tmp_path / "run" / folder / "stage.json").read_text())


def test_runs_in_order_then_skips_then_redoes_only_what_changed(tmp_path, one_thread):
    logs: list[str] = []
    first = run_pipeline(load_pipeline(str(write(tmp_path, stages())), []), progress=False, log=logs.append)
    assert [r["status"] for r in first.values()] == ["ran"] * 4
    assert Path(first["rl"]["path"]).name == "step-000002" and first["traces"]["path"].endswith("filtered.jsonl")
    sft = state(tmp_path, "04-sft")
    assert sft["status"] == "done" and sft["inputs"] == {"base": first["base"]["hash"], "traces": first["traces"]["hash"]}
    assert sft["config"]["data"]["path"] == first["traces"]["path"]  # the resolved config is recorded
    assert (tmp_path / "run" / "04-sft" / "config.yaml").is_file()
    again = run_pipeline(load_pipeline(str(write(tmp_path, stages())), []), progress=False, log=logs.append)
    assert [r["status"] for r in again.values()] == ["skipped"] * 4
    # a changed stage is redone, and so is everything after it that reads its output; nothing before it
    changed = run_pipeline(load_pipeline(str(write(tmp_path, stages())), ["--stages.rl.steps=3"]), progress=False,
                           log=logs.append)
    statuses = [r["status"] for r in changed.values()]
    assert statuses[:3] == ["skipped", "ran", "ran"]
    assert statuses[3] == ("skipped" if changed["traces"]["hash"] == first["traces"]["hash"] else "ran")
    assert Path(changed["rl"]["path"]).name == "step-000003"
    assert list((tmp_path / "run").glob("02-rl.old-*")), "the earlier run of a redone stage is kept"
    assert any("inputs changed" in line for line in logs)


def test_sft_is_redone_when_its_data_file_changes(tmp_path, one_thread):
    data = tmp_path / "chat.jsonl"
    row = {"messages": [{"role": "user", "content": "What is 1 + 2?"}, {"role": "assistant", "content": "3"}]}
    data.write_text(json.dumps(row) + "\n")
    st = {"base": BASE, "sft": {**stages()["sft"], "data": {"path": str(data), "batch_size": 1}, "steps": 1}}
    assert run_pipeline(PipelineConfig(str(tmp_path / "run"), st), progress=False, log=lambda *_: None)["sft"]["status"] == "ran"
    assert run_pipeline(PipelineConfig(str(tmp_path / "run"), st), progress=False, log=lambda *_: None)["sft"]["status"] == "skipped"
    data.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    result = run_pipeline(PipelineConfig(str(tmp_path / "run"), st), progress=False, log=lambda *_: None)
    assert [r["status"] for r in result.values()] == ["skipped", "ran"]


def test_kill_mid_stage_then_rerun_resumes_it_and_skips_finished_ones(tmp_path):
    # beta > 0: every step runs its update (with beta = 0 a tiny model's all-zero rewards skip it, and 40 steps
    # can end between two polls)
    st = {"base": BASE, "rl": grpo("${base}", steps=40, grpo={"beta": 0.01})}
    path = write(tmp_path, st)
    env = {**os.environ, "R1KIT_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "r1kit.cli", "pipeline", str(path), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpts = tmp_path / "run" / "02-rl" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        done = [int(c.name[5:]) for c in ckpts.glob("step-" + "[0-9]" * 6)]  # finished ones, not step-N.tmp
        if max(done, default=0) >= 2:  # two steps done; any step from 2 on, as older ones are pruned: a poll
            break                      # late under load still sees one
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert proc.returncode != 0, "the stage finished before the kill; make it longer"
    assert state(tmp_path, "01-base")["status"] == "done" and state(tmp_path, "02-rl")["status"] == "running"
    cut = int((ckpts / "latest").read_text().strip().split("-")[1])
    base_before = state(tmp_path, "01-base")
    metrics = tmp_path / "run" / "02-rl" / "metrics.jsonl"
    done_before = [x for x in metrics.read_text().splitlines() if 0 < json.loads(x)["step"] <= cut]
    rerun = subprocess.run(cmd + ["--stages.rl.steps=40"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "[base] done earlier with the same inputs: skipped" in rerun.stdout
    assert "[rl] interrupted earlier (running): resuming" in rerun.stdout
    assert state(tmp_path, "01-base") == base_before
    rl = state(tmp_path, "02-rl")
    assert rl["status"] == "done" and rl["runs"] == 2 and rl["output"].endswith("step-000040")
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "02-rl" / "metrics.jsonl").read_text().splitlines()]
    assert sorted(set(s for s in steps if s > 0)) == list(range(1, 41))
    # resumed after step `cut`: the lines of steps 1..cut are the killed run's (their step_time would differ
    # had they been run again)
    assert cut >= 2 and [x for x in metrics.read_text().splitlines() if 0 < json.loads(x)["step"] <= cut] == done_before


def test_missing_input_is_one_line_naming_stage_and_file_and_keeps_finished_stages(tmp_path, capsys, one_thread):
    st = {"base": BASE, "sft": {**stages()["sft"], "data": {"path": str(tmp_path / "nope.jsonl")}}}
    assert main(["pipeline", str(write(tmp_path, st)), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stage 'sft' (sft)" in err and "nope.jsonl" in err
    assert state(tmp_path, "01-base")["status"] == "done" and state(tmp_path, "02-sft")["status"] == "failed"


@pytest.mark.parametrize("st, message", [
    ({"a": {"kind": "grpo", "model": {"name_or_path": "${zzz}"}}}, "refers to ${zzz}"),
    ({"a": {"kind": "train"}}, "unknown kind 'train'"),
    ({"a": {"kind": "sft", "out_dir": "x"}}, "`out_dir` is set by the pipeline"),
    ({"a": {"kind": "sft", "stepz": 1}}, "stage 'a' (sft): unknown config key 'stepz'"),
    ({}, "no stages"),
])
def test_bad_pipeline_files_are_one_line_errors(tmp_path, st, message):
    with pytest.raises(R1kitError, match=message.replace("$", r"\$").replace("{", r"\{").replace("(", r"\(").replace(")", r"\)")):
        run_pipeline(PipelineConfig(str(tmp_path / "run"), st) if st else PipelineConfig(str(tmp_path), {}),
                     progress=False, log=lambda *_: None)


def test_fingerprint_follows_config_upstream_and_file_content(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("a\n")
    cfg = {"data": {"path": str(f)}, "steps": 1}
    one = fingerprint("sft", cfg, {"base": "h1"})
    assert one == fingerprint("sft", dict(cfg), {"base": "h1"})
    assert one != fingerprint("sft", {**cfg, "steps": 2}, {"base": "h1"})
    assert one != fingerprint("sft", cfg, {"base": "h2"})
    f.write_text("b\n")
    assert one != fingerprint("sft", cfg, {"base": "h1"})
    d = tmp_path / "m"
    d.mkdir()
    (d / "w").write_bytes(b"1")
    h = file_hash(d)
    (d / "w").write_bytes(b"2")
    assert file_hash(d) != h


def test_a_finished_stage_whose_output_is_gone_runs_again(tmp_path, one_thread):
    import shutil

    st = {"base": BASE}
    logs: list[str] = []
    first = run_pipeline(PipelineConfig(str(tmp_path / "run"), st), progress=False, log=logs.append)
    shutil.rmtree(first["base"]["path"])
    again = run_pipeline(PipelineConfig(str(tmp_path / "run"), st), progress=False, log=logs.append)
    assert again["base"]["status"] == "ran" and Path(again["base"]["path"]).is_dir()
    assert any("is gone: running it again" in line for line in logs)


def test_two_processes_train_together_and_one_process_then_skips(tmp_path):
    """torchrun -m r1kit pipeline: grpo and sft stages train on both ranks, base_model and generate run on rank 0
    alone; the records are the single-process ones, so a plain rerun skips every stage."""
    path = write(tmp_path, stages())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "R1KIT_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "r1kit",
           "pipeline", str(path), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("pipeline: [rl] running (grpo)") == 1  # rank 0 alone logs
    for folder, kind in (("01-base", "base_model"), ("02-rl", "grpo"), ("03-traces", "generate"), ("04-sft", "sft")):
        assert state(tmp_path, folder)["status"] == "done" and state(tmp_path, folder)["kind"] == kind
    for folder in ("02-rl", "04-sft"):  # one metrics row per step, written once
        rows = (tmp_path / "run" / folder / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["step"] for r in rows] == [1, 2]
    logs: list[str] = []
    again = run_pipeline(load_pipeline(str(path), []), progress=False, log=logs.append)
    assert [r["status"] for r in again.values()] == ["skipped"] * 4, logs
