"""GPU smoke run: 2 GRPO steps on a random-init ~0.5B Qwen2 with FSDP2 in bf16 (issue 11, item 8).

    python benchmarks/gpu_smoke.py                      # one GPU: torchrun --nproc_per_node 1, fsdp2, bf16
    python benchmarks/gpu_smoke.py --gpus 4             # four GPUs (rollout.prompts_per_step must divide)
    python benchmarks/gpu_smoke.py --tiny --device cpu  # the same path at toy size on CPU (gloo): the CI check

Never run in CI on a GPU; prepared for when a GPU machine is lent. What it does:

1. builds a random-init Qwen2 with Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads / 2 kv heads,
   intermediate 4864, tied embeddings, vocab 151936: 494.0M parameters, Qwen2.5-0.5B's count) with
   `r1kit.models.new_model` -- no hub download. The tokenizer is r1kit's local byte-level BPE (1024 ids)
   plus filler tokens "<x1024>" ... "<x151935>", so that every id the random model samples decodes to text;
   `--tiny`: hidden 64, 2 layers, 2 / 1 heads, intermediate 128, the same vocabulary (9.8M parameters);
2. writes a GRPO config: arithmetic task, P prompts x G samples, `parallel.strategy: fsdp2`,
   `parallel.mixed_precision: bf16` (fp32 master weights, bf16 compute), beta > 0 (the reference is
   loaded and sharded too), one checkpoint at the end (fsdp2's full-state gather);
3. runs `torchrun --standalone --nproc_per_node N <this file> --worker CONFIG`: the worker runs what
   `r1kit train grpo --config CONFIG --no-progress` runs (load_config, then train_grpo), with one reward added,
   `smoke_hash` (a hash of the completion text in [0, 1): a random model scores 0 on accuracy and format,
   and groups without spread would make every gradient zero), then writes its peak memory
   (torch.cuda.max_memory_allocated on GPU; peak RSS, ru_maxrss, on CPU), because GRPO's metrics.jsonl
   does not log peak memory;
4. prints, per step from metrics.jsonl: step time, rollout tokens/s and training tokens/s, and the peak memory.

    completion tokens  = tokens_per_s * step_time      (grpo logs tokens_per_s = every rank's completion tokens / step_time)
    rollout tok/s      = completion tokens / rollout_time
    training tok/s     = completion tokens / (step_time - rollout_time)   (rewards, reference and policy
                         forwards, backward and optimizer step; prompt tokens are not logged, so not counted)

Step 1 includes warm-up (CUDA context, kernel selection); trust the last step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

QWEN25_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                  intermediate_size=4864, max_position_embeddings=4096, rope_theta=1_000_000.0,
                  tie_word_embeddings=True)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            intermediate_size=128, max_position_embeddings=1024, tie_word_embeddings=True)
QWEN_VOCAB = 151936
FULL_RUN = dict(prompts=8, group=8, max_new_tokens=256, micro_batch=8)
TINY_RUN = dict(prompts=2, group=2, max_new_tokens=16, micro_batch=4)  # seconds on a 2-core CPU


def build_model(out: Path, tiny: bool, vocab: int = QWEN_VOCAB) -> tuple[Path, int]:
    """A random-init qwen2 of Qwen2.5-0.5B's shape (or TINY) saved as a Hugging Face folder at `out`, with
    r1kit's local tokenizer; vocab 0 = the tokenizer's own size. Returns (folder, parameter count)."""
    from r1kit.models import new_model
    from r1kit.models.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    if vocab > len(tokenizer):  # filler tokens: every id the model can sample decodes to text
        tokenizer.add_tokens([f"<x{i}>" for i in range(len(tokenizer), vocab)])
    shape = dict(TINY if tiny else QWEN25_05B, vocab_size=len(tokenizer))
    folder = new_model("qwen2", "tiny", out, seed=0, tokenizer=tokenizer, **shape)
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        n = sum(_prod(f.get_slice(k).get_shape()) for k in f.keys())  # a tied lm_head is stored once
    return folder, n


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def grpo_config(model_dir: Path, out_dir: Path, args) -> dict:
    """The smoke run's GRPO config (a plain dict; written as JSON, which the YAML loader reads)."""
    return {"model": {"name_or_path": str(model_dir), "device": args.device, "dtype": "float32"},
            "data": {"task": "arithmetic", "task_args": {"digits": 5}, "train_size": 256, "test_size": args.eval_problems},
            "rollout": {"prompts_per_step": args.prompts, "group_size": args.group, "max_new_tokens": args.max_new_tokens,
                        "temperature": 1.0, "top_p": 1.0},
            "grpo": {"beta": args.beta, "aggregation": "token_mean"},
            "optim": {"lr": 1e-6, "micro_batch_size": args.micro_batch},
            "eval": {"samples": 1, "max_new_tokens": 16},
            "parallel": {"strategy": "fsdp2", "mixed_precision": args.mixed_precision},
            "rewards": {"accuracy": 1.0, "format": 1.0, "smoke_hash": 1.0},
            "steps": args.steps, "save_every": 0, "keep_checkpoints": 1, "out_dir": str(out_dir),
            "threads": args.threads}


def worker(config: str) -> int:
    """Under torchrun: train_grpo on CONFIG (as `r1kit train grpo --config CONFIG --no-progress`), then this
    rank's peak memory to <out_dir>/peak_memory.rank<R>.json."""
    import resource
    import zlib

    import torch

    from r1kit.config import load_config
    from r1kit.errors import R1kitError
    from r1kit.rewards.registry import register
    from r1kit.train.config import GRPORunConfig
    from r1kit.train.grpo import train_grpo

    register("smoke_hash", lambda completion, example=None, ctx=None: zlib.crc32(completion.encode()) % 7 / 7)
    try:
        metrics = train_grpo(load_config(GRPORunConfig, config), progress=False)
    except R1kitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rank = int(os.environ.get("RANK", "0"))
    out = Path(json.loads(Path(config).read_text())["out_dir"])
    peak = {"rank": rank, "rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if torch.cuda.is_available():
        peak["gpu_allocated_bytes"] = torch.cuda.max_memory_allocated()
        peak["gpu_reserved_bytes"] = torch.cuda.max_memory_reserved()
    if out.is_dir():
        (out / f"peak_memory.rank{rank}.json").write_text(json.dumps(peak))
    if rank == 0:
        print(f"checkpoint: {metrics['checkpoint']}; held-out pass@1 {metrics.get('eval/pass@1', float('nan')):.3f}")
    from r1kit.train.dist import end_process_group

    end_process_group()
    return 0


def launch(config: Path, gpus: int, timeout: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
           str(Path(__file__).resolve()), "--worker", str(config)]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
                          timeout=timeout)


def summarize(out_dir: Path) -> list[dict]:
    """Per training step: step_time, rollout tokens/s, training tokens/s (module docstring), from metrics.jsonl."""
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    steps = []
    for r in rows:
        if "step_time" not in r:
            continue
        tokens = r["tokens_per_s"] * r["step_time"]
        update = max(r["step_time"] - r["rollout_time"], 1e-9)
        steps.append({"step": r["step"], "step_time": r["step_time"], "rollout_time": r["rollout_time"],
                      "completion_tokens": round(tokens), "rollout_tok_s": tokens / max(r["rollout_time"], 1e-9),
                      "train_tok_s": tokens / update, "loss": r.get("loss")})
    return steps


def peak_memory(out_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out_dir.glob("peak_memory.rank*.json"))]


def report(steps: list[dict], peaks: list[dict], n_params: int, args) -> str:
    lines = [f"model: qwen2 random init, {n_params / 1e6:.1f}M parameters; {args.gpus} process(es), fsdp2, "
             f"mixed precision {args.mixed_precision}; P={args.prompts} x G={args.group}, "
             f"max_new_tokens={args.max_new_tokens}, micro_batch={args.micro_batch}, beta={args.beta}",
             "| step | step time (s) | rollout time (s) | completion tokens | rollout tok/s | training tok/s |",
             "|---:|---:|---:|---:|---:|---:|"]
    for s in steps:
        lines.append(f"| {s['step']} | {s['step_time']:.2f} | {s['rollout_time']:.2f} | {s['completion_tokens']} | "
                     f"{s['rollout_tok_s']:.0f} | {s['train_tok_s']:.0f} |")
    for p in peaks:
        gib = lambda b: f"{b / 2**30:.2f} GiB"
        gpu = (f"peak GPU allocated {gib(p['gpu_allocated_bytes'])}, reserved {gib(p['gpu_reserved_bytes'])}; "
               if "gpu_allocated_bytes" in p else "")
        lines.append(f"rank {p['rank']}: {gpu}peak RSS {gib(p['rss_bytes'])}")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gpus", type=int, default=1, help="processes (one GPU each): torchrun --nproc_per_node")
    p.add_argument("--device", default="cuda", help="cuda, or cpu (gloo; with --tiny: the CI check)")
    p.add_argument("--tiny", action="store_true", help="hidden 64, 2 layers instead of Qwen2.5-0.5B's shape")
    p.add_argument("--vocab", type=int, default=QWEN_VOCAB,
                   help="vocabulary size (filler tokens past the local tokenizer's 1024); 0 = 1024")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--prompts", type=int, help="rollout.prompts_per_step, a multiple of --gpus (8; --tiny: 2)")
    p.add_argument("--group", type=int, help="rollout.group_size (8; --tiny: 2)")
    p.add_argument("--max-new-tokens", type=int, help="rollout.max_new_tokens (256; --tiny: 16)")
    p.add_argument("--micro-batch", type=int, help="optim.micro_batch_size, rows per forward/backward (8; --tiny: 4)")
    p.add_argument("--beta", type=float, default=0.001, help="grpo.beta; > 0 loads the reference model")
    p.add_argument("--mixed-precision", default="bf16", choices=["bf16", "no"])
    p.add_argument("--eval-problems", type=int, default=4, help="held-out problems evaluated once at the end")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--out", default="runs/gpu-smoke", help="work folder (model/, run/); must not hold a run")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--worker", metavar="CONFIG", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return with_preset(args, TINY_RUN if args.tiny else FULL_RUN)


def with_preset(args, preset: dict):
    """args with every option left unset (None) taken from `preset` (the --tiny or the full sizes)."""
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker)
    out = Path(args.out)
    if (out / "run").exists():
        print(f"error: {out / 'run'} exists; choose another --out", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    model_dir, n_params = build_model(out / "model", args.tiny, args.vocab)
    print(f"built {model_dir} ({n_params / 1e6:.1f}M parameters) in {time.perf_counter() - t0:.1f} s", flush=True)
    config = out / "grpo.json"
    config.write_text(json.dumps(grpo_config(model_dir, out / "run", args), indent=1))
    t1 = time.perf_counter()
    done = launch(config, args.gpus, args.timeout)
    if done.returncode != 0:
        print(f"error: the GRPO run failed (exit {done.returncode}); see its output above", file=sys.stderr)
        return 1
    print(f"torchrun wall time {time.perf_counter() - t1:.1f} s (start-up, load, {args.steps} steps, eval, save)")
    print(report(summarize(out / "run"), peak_memory(out / "run"), n_params, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
