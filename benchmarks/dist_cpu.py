"""GRPO and SFT steps/s with 1 process vs 2 processes (ddp over gloo) on CPU, the same global batch.

    python benchmarks/dist_cpu.py                        # tiny qwen2, 1 warm-up + 4 timed steps, 2 rounds
    python benchmarks/dist_cpu.py --size small --steps 6 --rounds 3

Every run is a fresh process tree, launched as a user launches `r1kit train grpo|sft` (this file's
`--worker` runs load_config + train_grpo / train_sft, what the CLI command runs, without its printing):

    1 proc x 1 thread    python dist_cpu.py --worker KIND C --threads=1              (OMP_NUM_THREADS=1)
    1 proc x 2 threads   python dist_cpu.py --worker KIND C --threads=2              (OMP_NUM_THREADS=2)
    2 procs x 1 thread   torchrun --standalone --nproc_per_node 2 dist_cpu.py --worker KIND C
                             --parallel.strategy=ddp --threads=1                      (OMP_NUM_THREADS=1)

The global batch is the same in all three (GRPO: rollout.prompts_per_step x group_size rows, each rank
sampling and training its half; SFT: data.batch_size examples). Time per step is the `step_time` the
trainers log (under torchrun: the slowest rank's, collectives included); the first step of each run is a
warm-up and is dropped; steps/s = 1 / median of the timed steps over all rounds. The variants run
alternately (round 1: a, b, c; round 2: a, b, c; ...), so load from other jobs hits them alike.
The random tiny model rarely samples eos, so every GRPO row runs to max_new_tokens whatever the rank.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = (("1 proc x 1 thread", 1, 1), ("1 proc x 2 threads", 1, 2), ("2 procs x 1 thread (ddp)", 2, 1))


def chat_rows(n: int) -> list[dict]:
    """n short chat examples with reasoning inside the assistant turn (as tests/train/test_dist.py)."""
    rows = []
    for i in range(n):
        a, b = 10 + i % 89, 3 + i % 41
        rows.append({"messages": [{"role": "user", "content": f"What is {a}+{b}? Think step by step."},
                                  {"role": "assistant", "content": f"<think>\n{a}+{b}: units {a % 10}+{b % 10}, "
                                   f"then tens. So {a}+{b}={a + b}.\n</think>\n\n{a + b}"}]})
    return rows


def configs(model: Path, work: Path, steps: int) -> dict[str, dict]:
    """The GRPO and SFT configs (out_dir filled in per run)."""
    (work / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat_rows(256)))
    common = {"steps": steps, "save_every": 0, "keep_checkpoints": 1}
    grpo = {"model": {"name_or_path": str(model), "device": "cpu"},
            "data": {"task": "arithmetic", "task_args": {"digits": 3}, "train_size": 512, "test_size": 1},
            "rollout": {"prompts_per_step": 8, "group_size": 4, "max_new_tokens": 32},
            "grpo": {"beta": 0.0, "aggregation": "token_mean"}, "optim": {"lr": 1e-4, "micro_batch_size": 0},
            "eval": {"samples": 1, "max_new_tokens": 8}, "rewards": {"accuracy": 1.0, "format": 1.0}, **common}
    sft = {"model": {"name_or_path": str(model), "device": "cpu"},
           "data": {"path": str(work / "chat.jsonl"), "batch_size": 16, "max_length": 128, "packing": True},
           "optim": {"lr": 1e-3, "micro_batch_size": 2, "schedule": "constant"}, **common}
    return {"grpo": grpo, "sft": sft}


def run_once(kind: str, config: Path, out: Path, nproc: int, threads: int) -> list[float]:
    """One training run; returns its logged step_time per step."""
    head = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                 f"--nproc_per_node={nproc}"]
    cmd = head + [str(Path(__file__).resolve()), "--worker", kind, str(config), f"--out_dir={out}",
                  f"--threads={threads}"] + (["--parallel.strategy=ddp"] if nproc > 1 else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        (out.parent / f"{out.name}.stderr.txt").write_text(done.stderr)
        raise SystemExit(f"error: {' '.join(cmd)} failed (exit {done.returncode}); stderr in {out}.stderr.txt")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["step_time"] for r in rows if "step_time" in r]


def worker(kind: str, config: str, overrides: list[str]) -> int:
    """One process of a run: what `r1kit train KIND --config CONFIG --no-progress OVERRIDES` runs."""
    from r1kit.config import load_config

    if kind == "grpo":
        from r1kit.train.config import GRPORunConfig
        from r1kit.train.grpo import train_grpo

        train_grpo(load_config(GRPORunConfig, config, overrides), progress=False)
    else:
        from r1kit.train.sft_config import SFTRunConfig
        from r1kit.train.sft_run import train_sft

        train_sft(load_config(SFTRunConfig, config, overrides), progress=False)
    from r1kit.train.dist import end_process_group

    end_process_group()
    return 0


def measure(kinds: list[str], model: Path, work: Path, steps: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    """{(kind, variant): timed step times over all rounds}, the variants alternating within each round."""
    cfgs = configs(model, work, steps)
    paths = {}
    for kind in kinds:
        paths[kind] = work / f"{kind}.json"
        paths[kind].write_text(json.dumps(cfgs[kind]))
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for kind in kinds:
            for name, nproc, threads in VARIANTS:
                out = work / f"{kind}-{nproc}x{threads}-r{r}"
                step_times = run_once(kind, paths[kind], out, nproc, threads)
                times.setdefault((kind, name), []).extend(step_times[1:])  # step 1: warm-up
                print(f"round {r + 1} {kind:4s} {name:26s} step times {['%.3f' % t for t in step_times]}",
                      flush=True)
    return times


def table(times: dict[tuple[str, str], list[float]], kinds: list[str]) -> str:
    lines = ["| run | variant | timed steps | median step time (s) | steps/s | vs 1 proc x 1 thread | vs 1 proc x 2 threads |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for kind in kinds:
        rate = {name: 1 / statistics.median(times[(kind, name)]) for name, _, _ in VARIANTS}
        base1, base2 = rate[VARIANTS[0][0]], rate[VARIANTS[1][0]]
        for name, _, _ in VARIANTS:
            t = times[(kind, name)]
            lines.append(f"| {kind} | {name} | {len(t)} | {statistics.median(t):.3f} | {rate[name]:.2f} | "
                         f"{rate[name] / base1:.2f}x | {rate[name] / base2:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1], argv[2], argv[3:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="tiny", choices=["tiny", "small"], help="r1kit's named qwen2 size")
    p.add_argument("--steps", type=int, default=5, help="steps per run, the first a warm-up")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--kinds", default="grpo,sft")
    p.add_argument("--work", default="runs/dist-cpu", help="scratch folder (model, configs, runs); must be new")
    args = p.parse_args(argv)
    work = Path(args.work)
    if work.exists():
        print(f"error: {work} exists; choose another --work", file=sys.stderr)
        return 2
    from r1kit.models import new_model
    from r1kit.models.tiny import count_params

    model = new_model("qwen2", args.size, work / "model", seed=0)
    from r1kit.models import load_model

    print(f"qwen2 {args.size}: {count_params(load_model(str(model))) / 1e6:.2f}M parameters; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    kinds = args.kinds.split(",")
    times = measure(kinds, model, work, args.steps, args.rounds)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(table(times, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
