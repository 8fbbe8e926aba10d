"""Multi-process training (r1kit.train.dist) on CPU with gloo: the same global batch trained with 2 processes
(ddp or fsdp2) gives the weights and metrics of 1 process; a checkpoint resumes with another process count
and strategy; rank 0 alone writes; a batch that does not divide over the ranks is one line.

Each run is a real subprocess (tests/train/dist_worker.py: `train_grpo` / `train_sft` with a rollout engine
that samples each prompt on its own, so both process counts see the same rollouts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("dist_worker.py")
TOL = 5e-5  # float32, 3 AdamW steps at lr 1e-3 / 3e-3: measured differences 2e-8 .. 1.1e-5


def launch(kind: str, config: Path, out: Path, nproc: int, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    head = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                 f"--nproc_per_node={nproc}"]
    cmd = head + [str(WORKER), kind, str(config), f"--out_dir={out}", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run: Path, step: int) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "checkpoints" / f"step-{step:06d}" / "model.safetensors"))


def max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def metrics(run: Path, keys: tuple[str, ...]) -> list[tuple]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [tuple(r.get(k) for k in ("step",) + keys) for r in rows]


def assert_same_run(one: Path, other: Path, steps: int, keys: tuple[str, ...], base: Path) -> float:
    a, b = weights(one, steps), weights(other, steps)
    moved = max_diff(a, {k: v for k, v in weights_of(base).items() if k in a})
    diff = max_diff(a, b)
    assert moved > 1e-3, moved  # it trained
    assert diff < TOL, (diff, moved)
    for x, y in zip(metrics(one, keys), metrics(other, keys), strict=True):
        assert x == pytest.approx(y, rel=1e-4, abs=1e-6), (x, y)
    return diff


def weights_of(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


@pytest.fixture(scope="module")
def grpo_config(tiny_model_dir, tmp_path_factory):
    cfg = {"model": {"name_or_path": str(tiny_model_dir), "device": "cpu"},
           "data": {"task": "arithmetic", "task_args": {"digits": 2}, "train_size": 64, "test_size": 2},
           "rollout": {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 12},
           # reinforce_pp normalises by the whole batch's std: wrong if a rank used only its own rows
           "grpo": {"beta": 0.04, "aggregation": "token_mean", "advantage": "reinforce_pp"},
           "optim": {"lr": 1e-3, "micro_batch_size": 3},  # 8 rows a rank: micro-batches of 3, 3 and 2
           "eval": {"samples": 1, "max_new_tokens": 8}, "rewards": {"text_hash": 1.0},
           "steps": 3, "save_every": 2, "keep_checkpoints": 3, "threads": 1}
    path = tmp_path_factory.mktemp("dist") / "grpo.json"
    path.write_text(json.dumps(cfg))
    return path


GRPO_KEYS = ("loss", "grad_norm", "kl", "reward/total_mean", "reward/total_std", "response_length/mean")


def test_grpo_two_processes_equal_one(grpo_config, tiny_model_dir, tmp_path):
    launch("grpo", grpo_config, tmp_path / "one", 1)
    launch("grpo", grpo_config, tmp_path / "ddp", 2, "--parallel.strategy=ddp")
    diff = assert_same_run(tmp_path / "one", tmp_path / "ddp", 3, GRPO_KEYS, tiny_model_dir)
    print(f"grpo ddp x2 vs 1 process: max |dw| = {diff:.2e}")
    # rank 0 alone wrote: one row per step, whole checkpoints only
    assert [r[0] for r in metrics(tmp_path / "ddp", ())] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == ["latest", "step-000002",
                                                                                    "step-000003"]
    # fsdp2 with 2 processes to step 2, resumed by 1 process to step 3 == 1 process throughout
    launch("grpo", grpo_config, tmp_path / "fsdp", 2, "--parallel.strategy=fsdp2", "--steps=2")
    launch("grpo", grpo_config, tmp_path / "fsdp", 1, "--steps=3", "--resume")
    diff = assert_same_run(tmp_path / "one", tmp_path / "fsdp", 3, GRPO_KEYS, tiny_model_dir)
    print(f"grpo fsdp2 x2 -> resumed x1 vs 1 process: max |dw| = {diff:.2e}")
    # bf16 mixed precision: the ranks compute in bfloat16, the saved (master) weights stay float32
    launch("grpo", grpo_config, tmp_path / "bf16", 2, "--parallel.strategy=fsdp2", "--parallel.mixed_precision=bf16")
    saved = weights(tmp_path / "bf16", 3)
    assert {str(v.dtype) for v in saved.values()} == {"torch.float32"}
    assert 1e-4 < max_diff(saved, weights_of(tiny_model_dir)) < 0.05  # it trained, at this lr's scale


def test_sft_two_processes_equal_one(tiny_model_dir, tmp_path):
    rows = []
    for i in range(16):
        a, b = 2 + i % 7, 1 + i % 5
        rows.append({"messages": [{"role": "user", "content": f"What is {a}+{b}?" + " please" * (i % 4)},
                                  {"role": "assistant", "content": f"<think>\n{a}+{b}={a + b}\n</think>\n\n{a + b}"}]})
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"model": {"name_or_path": str(tiny_model_dir), "device": "cpu"},
           "data": {"path": str(tmp_path / "chat.jsonl"), "batch_size": 6, "max_length": 64, "packing": True},
           "optim": {"lr": 3e-3, "micro_batch_size": 1, "schedule": "constant"},  # ranks pack unequal row counts
           "steps": 3, "save_every": 2, "keep_checkpoints": 3, "threads": 1}
    config = tmp_path / "sft.json"
    config.write_text(json.dumps(cfg))
    keys = ("loss", "grad_norm", "target_tokens", "row_tokens")
    launch("sft", config, tmp_path / "one", 1)
    for strategy in ("ddp", "fsdp2"):
        launch("sft", config, tmp_path / strategy, 2, f"--parallel.strategy={strategy}")
        diff = assert_same_run(tmp_path / "one", tmp_path / strategy, 3, keys, tiny_model_dir)
        print(f"sft {strategy} x2 vs 1 process: max |dw| = {diff:.2e}")


def test_batch_not_dividing_over_ranks_is_one_line(grpo_config, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "r1kit",
           "train", "grpo", "--config", str(grpo_config), "--rollout.prompts_per_step=3",
           f"--out_dir={tmp_path / 'run'}", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    message = "error: rollout.prompts_per_step = 3 does not divide over 2 processes; make it a multiple of 2"
    assert done.stderr.count(message) == 2 == done.stderr.count("error:"), done.stderr[-2000:]  # once per rank
    assert "r1kit/train" not in done.stderr  # no traceback of ours (torchrun prints its own ChildFailedError)
    assert not (tmp_path / "run").exists()


def test_single_process_commands_refuse_torchrun(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "r1kit",
           "train", "rm", "--config", str(tmp_path / "rm.yaml")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert done.stderr.count("error: this command runs as one process; launch it without torchrun") == 2


def test_lora_grpo_two_processes_equal_one(grpo_config, tiny_model_dir, tmp_path):
    """ddp with model.lora: only the adapters' gradients are all-reduced; rank 0 writes merged weights + adapter/."""
    lora = "--model.lora={r: 4}"
    launch("grpo", grpo_config, tmp_path / "one", 1, lora)
    launch("grpo", grpo_config, tmp_path / "ddp", 2, lora, "--parallel.strategy=ddp")
    diff = assert_same_run(tmp_path / "one", tmp_path / "ddp", 3, GRPO_KEYS, tiny_model_dir)
    print(f"grpo + LoRA ddp x2 vs 1 process: max |dw| = {diff:.2e}")
    assert (tmp_path / "ddp" / "checkpoints" / "step-000003" / "adapter").is_dir()


def test_cli_train_grpo_under_torchrun_reports_once(grpo_config, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out, config = tmp_path / "run", tmp_path / "cli.json"
    config.write_text(json.dumps({**json.loads(grpo_config.read_text()), "rewards": {"accuracy": 1.0}}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "r1kit",
           "train", "grpo", "--config", str(config), "--steps=1", f"--out_dir={out}", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("checkpoint: ") == 1 and done.stdout.count("r1kit: GRPO run in") == 1, done.stdout
    assert (out / "checkpoints" / "step-000001" / "model.safetensors").is_file()
