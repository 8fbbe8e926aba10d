"""Benchmark: one r1kit GRPO step against one TRL `GRPOTrainer` optimizer step, same model, prompts, reward, settings.

    pip install -e ".[bench]"                                    # TRL 1.16.0 (benchmark-only extra)
    python benchmarks/grpo_vs_trl.py --model 4m --precision fp32 --rounds 3 --steps 5
    python benchmarks/grpo_vs_trl.py --model both --precision both --rounds 3 [--threads 2]

Both sides train the same locally built random Qwen2 (benchmarks/rollout_vs_generate.py `build`: 4m = hidden 256,
4 layers; 25m = hidden 512, 8 layers; vocab 512, tied embeddings), saved once to a temporary folder that each
loads, on the same 4 prompts (2-digit arithmetic problems, `render_prompt` in --template: plain "User: <problem>
\nAssistant:", 22 tokens, or r1_zero, Table 1's text, 309 tokens with this 512-token BPE; TRL's tokenizer call
adds no special tokens here, so both get the same ids) with the same reward (`hash_reward`: a CRC32 of the
completion text, cheap and spread out on a random model). Matched settings (`SETTINGS`): P = 4 prompts x G = 8,
64 new tokens with eos never ending a row (r1kit: no stop strings and `engine.eos_ids = []`; TRL:
`generation_kwargs={"min_new_tokens": 64}`, so eos is masked out of the first 64 tokens), T = 1.0, top_p = 1.0,
top_k off, beta = 0.04 with a reference model, PPO clip 0.2 / 0.2, one optimizer step per batch (mu = 1, old
logprobs = the current policy's), token-mean loss over the step's 32 completions (r1kit grpo.aggregation
token_mean; TRL loss_type "dapo": sum of per-token losses / active tokens of the whole generation batch, its
default), group-std advantages, micro-batches of 8 completions (r1kit optim.micro_batch_size 8; TRL
per_device_train_batch_size 8 x gradient_accumulation_steps 4 = one generation batch of 32 per optimizer step),
AdamW lr 1e-5, betas (0.9, 0.99), no weight decay, grad-norm clip 1.0, constant lr. TRL: no gradient
checkpointing (its GRPOConfig default is on; r1kit does not checkpoint), no vLLM, no logging, no saving.

Each run is a fresh subprocess (so neither side inherits the other's allocator or thread state): load, one
warm-up step, then --steps timed steps; runs alternate r1kit, TRL, r1kit, ... for --rounds. A step's time is the
wall time between consecutive step ends (r1kit: around `grpo_step`, the loop `train_grpo` runs; TRL: a
TrainerCallback's `on_step_end`), so it holds rollout, reward, reference pass, update and each loop's overhead.
Precision: fp32 = both fp32; bf16 = each side's mixed precision, float32 master weights, gradients and AdamW state
with bf16 compute: TRL `bf16=True` (torch.autocast through accelerate; generate under it too), r1kit
`parallel.mixed_precision=bf16` (train/lean_forward.py: bf16 matmuls, fp32 attention and norms; rollouts decoded
with bf16 weight copies).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SHAPES = {"4m": (256, 4), "25m": (512, 8)}
PRECISIONS = ("fp32", "bf16")  # bf16: each side's mixed precision (fp32 master weights, bf16 compute)
TEMPLATES = {"plain": "User: {prompt}\nAssistant:", "r1_zero": "r1_zero"}  # prompt tokens here: plain 22, r1_zero 309
SETTINGS = dict(prompts=4, group_size=8, new_tokens=64, temperature=1.0, top_p=1.0, beta=0.04, clip=0.2,
                micro_batch=8, lr=1e-5, betas=(0.9, 0.99), weight_decay=0.0, grad_clip=1.0, digits=2, seed=0,
                template=TEMPLATES["plain"])


def hash_reward(text: str) -> float:
    """The shared reward: CRC32 of the completion text mapped to [0, 1); spread on a random model, ~free."""
    return (zlib.crc32(text.encode("utf-8", "replace")) % 1000) / 1000.0


def fail(msg: str) -> None:
    """One line on stderr and exit 2, as the r1kit CLI does."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def require_trl():
    """Import trl or stop with one line (it is the optional `bench` extra)."""
    try:
        import trl
    except ImportError:
        fail("trl is not installed; this benchmark needs the bench extra: pip install -e \".[bench]\"")
    return trl


def build_model_dir(hidden: int, layers: int, out: Path) -> Path:
    """The random Qwen2 of rollout_vs_generate.build saved as a Hugging Face folder both sides load."""
    from rollout_vs_generate import build

    model, tokenizer = build(hidden, layers)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def shared_prompts(model_dir: Path, s: dict) -> tuple[list[str], list[str]]:
    """The P training prompts r1kit's run draws (task.examples("train", P), s["template"]) and their problems;
    TRL gets the same."""
    from r1kit.data.tasks import get_task
    from r1kit.data.templates import render_prompt
    from r1kit.models import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    task = get_task("arithmetic", digits=s["digits"])
    examples = task.examples("train", s["prompts"])
    return [render_prompt(ex.problem, s["template"], tokenizer) for ex in examples], [ex.problem for ex in examples]


class Seen:
    """What the reward function saw in one process: completions and their token counts, per call batch."""

    def __init__(self):
        self.completions, self.tokens, self.problems = 0, 0, set()

    def add(self, n_tokens: int, problem: str) -> None:
        self.completions += 1
        self.tokens += n_tokens
        self.problems.add(problem)

    def summary(self, total_steps: int) -> dict:
        return dict(completions_per_step=self.completions / total_steps, problems=sorted(self.problems),
                    tokens_per_completion=self.tokens / max(self.completions, 1))


def same_prompt_ids(model_dir: Path, prompts: list[str]) -> bool:
    """r1kit's engine encodes prompts without special tokens, TRL with the tokenizer's default: the same ids?"""
    from r1kit.models import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    return tokenizer(prompts)["input_ids"] == tokenizer(prompts, add_special_tokens=False)["input_ids"]


def r1kit_config(s: dict, model_dir: Path, out_dir: Path, precision: str, total_steps: int, threads: int):
    from r1kit.train.config import (DataConfig, EvalConfig, GRPOConfig, GRPORunConfig, ModelConfig, OptimConfig,
                                    ParallelConfig, RolloutConfig)

    if precision not in PRECISIONS:
        fail(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return GRPORunConfig(
        model=ModelConfig(name_or_path=str(model_dir), dtype="float32",
                          device="cpu"),
        parallel=ParallelConfig(mixed_precision="bf16" if precision == "bf16" else "no"),
        data=DataConfig(task="arithmetic", task_args={"digits": s["digits"]}, template=s["template"],
                        train_size=s["prompts"], test_size=1),
        rollout=RolloutConfig(prompts_per_step=s["prompts"], group_size=s["group_size"], max_new_tokens=s["new_tokens"],
                              temperature=s["temperature"], top_p=s["top_p"], stop=[]),
        grpo=GRPOConfig(beta=s["beta"], clip_low=s["clip"], clip_high=s["clip"], aggregation="token_mean",
                        loss="grpo", advantage="grpo", updates_per_batch=1),
        optim=OptimConfig(lr=s["lr"], betas=list(s["betas"]), weight_decay=s["weight_decay"], grad_clip=s["grad_clip"],
                          micro_batch_size=s["micro_batch"], schedule="constant"),
        eval=EvalConfig(every=0), rewards={"bench_hash": 1.0}, steps=total_steps, seed=s["seed"],
        out_dir=str(out_dir), save_every=0, threads=threads)


def r1kit_settings(cfg) -> dict:
    """The matched settings as r1kit's config states them."""
    r, g, o = cfg.rollout, cfg.grpo, cfg.optim
    return dict(completions_per_step=r.prompts_per_step * r.group_size, group_size=r.group_size,
                new_tokens=r.max_new_tokens, temperature=r.temperature, top_p=r.top_p, beta=g.beta,
                clip=(g.clip_low, g.clip_high), micro_batch=o.micro_batch_size, updates_per_batch=g.updates_per_batch,
                lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay, grad_clip=o.grad_clip)


def time_r1kit(s: dict, model_dir: Path, out_dir: Path, precision: str = "fp32", warmup: int = 1, steps: int = 5,
               threads: int = 0) -> dict:
    """r1kit's own loop (setup_run, open_rollout_engine, grpo_step): seconds of each step after `warmup`."""
    from r1kit.rewards import register
    from r1kit.train.grpo import grpo_step, setup_run
    from r1kit.train.server_rollout import open_rollout_engine

    seen = Seen()

    def bench_hash(completion, example, ctx, **_):
        seen.add(int(ctx.num_tokens or 0), example.problem)
        return hash_reward(completion)

    register("bench_hash", bench_hash)
    cfg = r1kit_config(s, model_dir, out_dir, precision, warmup + steps, threads)
    run = setup_run(cfg)
    engine = open_rollout_engine(run)
    engine.eos_ids = []  # eos does not end a row: every completion runs all new_tokens (as TRL's min_new_tokens)
    ends = [time.perf_counter()]
    for _ in range(warmup + steps):
        grpo_step(run, engine)
        ends.append(time.perf_counter())
    times = [b - a for a, b in zip(ends, ends[1:])]
    total = warmup + steps
    return dict(step_times=times[warmup:], settings=r1kit_settings(cfg), threads=_threads(), **seen.summary(total))


def trl_config(s: dict, out_dir: Path, precision: str, total_steps: int, checkpointing: bool = False):
    from trl import GRPOConfig

    P, G, mb = s["prompts"], s["group_size"], s["micro_batch"]
    return GRPOConfig(
        output_dir=str(out_dir), use_cpu=True, bf16=precision == "bf16", fp16=False, seed=s["seed"],
        per_device_train_batch_size=mb, gradient_accumulation_steps=P * G // mb, num_generations=G,
        max_completion_length=s["new_tokens"], temperature=s["temperature"], top_p=s["top_p"], top_k=0,
        generation_kwargs={"min_new_tokens": s["new_tokens"]}, beta=s["beta"], epsilon=s["clip"],
        loss_type="dapo", scale_rewards="group", num_iterations=1, learning_rate=s["lr"], adam_beta1=s["betas"][0],
        adam_beta2=s["betas"][1], weight_decay=s["weight_decay"], max_grad_norm=s["grad_clip"],
        lr_scheduler_type="constant", warmup_steps=0, max_steps=total_steps, gradient_checkpointing=checkpointing,
        model_init_kwargs={"dtype": "float32"}, save_strategy="no", report_to="none", logging_steps=10**6,
        disable_tqdm=True, log_completions=False, dataloader_num_workers=0)


def trl_settings(args) -> dict:
    """The matched settings as TRL's config states them (one optimizer step = one generation batch)."""
    return dict(completions_per_step=args.per_device_train_batch_size * args.gradient_accumulation_steps,
                group_size=args.num_generations, new_tokens=args.max_completion_length, temperature=args.temperature,
                top_p=args.top_p, beta=args.beta, clip=(args.epsilon, args.epsilon if args.epsilon_high is None else args.epsilon_high),
                micro_batch=args.per_device_train_batch_size, updates_per_batch=args.num_iterations,
                lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.weight_decay,
                grad_clip=args.max_grad_norm)


def time_trl(s: dict, model_dir: Path, out_dir: Path, precision: str = "fp32", warmup: int = 1, steps: int = 5,
             threads: int = 0, checkpointing: bool = False) -> dict:
    """TRL's GRPOTrainer.train(max_steps = warmup + steps); a callback stamps each optimizer step's end.
    checkpointing: TRL's own default (gradient checkpointing on), off unless asked: r1kit does not checkpoint."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    if threads:
        torch.set_num_threads(threads)
    seen = Seen()

    def bench_hash(completions, completion_ids, problem, **_):
        for ids, p in zip(completion_ids, problem):
            seen.add(len(ids), p)
        return [hash_reward(c) for c in completions]

    class Stamp(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_begin(self, args, state, control, **kw):
            if not self.ends:
                self.ends.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

    args = trl_config(s, out_dir, precision, warmup + steps, checkpointing)
    prompts, problems = shared_prompts(model_dir, s)
    data = Dataset.from_dict({"prompt": prompts, "problem": problems})  # extra columns reach the reward
    stamp = Stamp()
    trainer = GRPOTrainer(model=str(model_dir), reward_funcs=bench_hash, args=args, train_dataset=data,
                          callbacks=[stamp])
    trainer.train()
    times = [b - a for a, b in zip(stamp.ends, stamp.ends[1:])]
    total = warmup + steps
    return dict(step_times=times[warmup:], settings=trl_settings(args), threads=_threads(), **seen.summary(total))


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def worker(args) -> None:
    """One run in this process; prints its result as one JSON line."""
    if args.worker == "trl":
        require_trl()
    s = {**SETTINGS, "template": TEMPLATES[args.template]}
    with tempfile.TemporaryDirectory() as out:
        run = (Path(args.model_dir), Path(out) / "run", args.precision, 1, args.steps, args.threads)
        res = time_r1kit(s, *run) if args.worker == "r1kit" else time_trl(s, *run, args.trl_checkpointing)
    print("RESULT " + json.dumps(res), flush=True)


def spawn(side: str, model_dir: Path, precision: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--model-dir", str(model_dir), "--precision", precision,
           "--steps", str(args.steps), "--threads", str(args.threads), "--template", args.template]
    cmd += ["--trl-checkpointing"] if args.trl_checkpointing else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        fail(f"the {side} run failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(lines[-1][len("RESULT "):])


def compare(name: str, model_dir: Path, precision: str, args) -> dict:
    """Alternating runs; the median step time of each side over every timed step of every round."""
    times = {"r1kit": [], "trl": []}
    extra = {}
    for r in range(args.rounds):
        for side in ("r1kit", "trl"):
            res = spawn(side, model_dir, precision, args)
            times[side] += res["step_times"]
            extra[side] = res
            print(f"  {name} {precision} round {r + 1} {side:5}: median {statistics.median(res['step_times']):.3f} s "
                  f"({', '.join(f'{t:.2f}' for t in res['step_times'])}); {res['completions_per_step']:.0f} completions"
                  f" x {res['tokens_per_completion']:.1f} tokens per step, {res['threads']} threads, load {os.getloadavg()[0]:.1f}",
                  flush=True)
    for key in ("settings", "problems"):
        if extra["r1kit"][key] != extra["trl"][key]:
            print(f"  warning: {key} differ: r1kit {extra['r1kit'][key]} vs trl {extra['trl'][key]}")
    med = {side: statistics.median(v) for side, v in times.items()}
    return dict(model=name, precision=precision, r1kit=med["r1kit"], trl=med["trl"], ratio=med["r1kit"] / med["trl"],
                steps=len(times["r1kit"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["4m", "25m", "both"], default="4m")
    parser.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="alternating r1kit/TRL run pairs")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each run (0: torch's default)")
    parser.add_argument("--template", choices=list(TEMPLATES), default="plain",
                        help="plain: 'User: <problem>\\nAssistant:' (22 prompt tokens); r1_zero: Table 1 (309 tokens)")
    parser.add_argument("--trl-checkpointing", action="store_true",
                        help="TRL with its default gradient checkpointing (r1kit has none; off by default)")
    parser.add_argument("--worker", choices=["r1kit", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    require_trl()
    import torch
    import trl

    models = ["4m", "25m"] if args.model == "both" else [args.model]
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    print(f"torch {torch.__version__}, trl {trl.__version__}, threads {args.threads or torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}; template {args.template}; TRL gradient checkpointing "
          f"{'on' if args.trl_checkpointing else 'off'}; {args.rounds} rounds x (1 warm-up + {args.steps} timed steps)")
    rows, settings = [], {**SETTINGS, "template": TEMPLATES[args.template]}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            model_dir = build_model_dir(*SHAPES[name], Path(tmp) / name)
            if not same_prompt_ids(model_dir, shared_prompts(model_dir, settings)[0]):
                print("  warning: the tokenizer adds special tokens: TRL's prompt ids differ from r1kit's")
            for precision in precisions:
                rows.append(compare(name, model_dir, precision, args))
    print(f"\n{'model':>5} | {'precision':<9} | {'r1kit s/step':>12} | {'TRL s/step':>10} | {'r1kit/TRL':>9}")
    for row in rows:
        print(f"{row['model']:>5} | {row['precision']:<9} | {row['r1kit']:12.3f} | {row['trl']:10.3f} | "
              f"{row['ratio']:9.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
