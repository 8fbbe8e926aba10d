"""GPU speed in one process (issue 12, item 6): rollout tokens/s against transformers `generate`, and a GRPO step's
MFU, on a random-init Qwen2 of Qwen2.5-0.5B's shape (benchmarks/gpu_smoke.py `build_model`: 494.0M parameters,
vocab 151936, r1kit's local tokenizer padded with filler tokens; no hub download).

    python benchmarks/gpu_speed.py                          # one H100 / H200; expected ~3-4 min in all (< 5)
    python benchmarks/gpu_speed.py --device cpu --tiny      # the same path at toy size on CPU (the CI check)

Expected GPU runtime (estimated, not yet measured): model build and save ~30 s, rollout section ~2 min (4 batch
sizes x 3 samplers x (1 warm-up + 3 repeats) x 256 tokens; HF generate's per-token Python overhead dominates),
GRPO section ~1 min (load policy + reference, 1 warm-up, 2 timed and 1 FLOP-counted step). The printout gives
each section's wall time.

1. Rollout: for each of --batches (default 1, 8, 32, 128) that many independent prompts of random length in
   [25, 50] tokens (rollout_vs_generate.random_prompts), 1 sample each, --new-tokens 256, eos ignored (every row
   runs all 256 steps), T = 1.0, top-p 0.95, no top-k. Three samplers, interleaved after one warm-up each,
   median tokens/s of --repeats (rollout_vs_generate.measure), each call bracketed by torch.cuda.synchronize:
     generate        transformers `model.generate` on the model cast to bf16 (model.to(bfloat16))
     r1kit bf16      RolloutEngine on that same bf16 model object
     r1kit mixed     RolloutEngine(fp32 model, compute_dtype=bfloat16): what GRPO with
                     parallel.mixed_precision=bf16 decodes with (bf16 weight copies made at each generate call)
2. Training-step MFU: r1kit's own loop (setup_run, open_rollout_engine, grpo_step, as grpo_vs_trl.time_r1kit)
   with parallel.mixed_precision=bf16 (fp32 master weights, bf16 matmuls: train/lean_forward.py), P = 8 prompts x
   G = 8, 256 new tokens (eos ignored), micro-batch 8, beta 0.04 (a reference model), grpo_vs_trl's other SETTINGS.
   One warm-up step (step 0 also runs the old-logp agreement forward), --steps timed steps, one counted step.
   Phases as step_flops: rollout (sample_rollout), reference (teacher_forced_logp: the reference's forward), update
   (policy_update: forward, backward, clip, AdamW), other (rewards, advantages). Seconds: median over the timed
   steps, each phase bracketed by torch.cuda.synchronize. FLOPs: the counted step under FlopCounterMode
   (step_flops.flop_mapping; matmuls and attention only, attention at full s_q x s_k even where causal).
       MFU = counted FLOP / median seconds / peak
   peak: the GPU's dense bf16 tensor peak by device name (PEAK_TFLOPS; --peak-tflops overrides); on CPU the
   measured bf16 torch.mm peak (step_flops.matmul_peak over --peak-sizes).
3. Prints the device name, torch / transformers / CUDA versions, torch.cuda.max_memory_allocated per section
   (CPU: peak RSS). --device cuda without CUDA: `error: ...` on one line, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# dense (no sparsity) bf16 tensor-core peak, TFLOP/s, by a substring of torch.cuda.get_device_name(); first match
PEAK_TFLOPS = ((("H100", "PCIe"), 756.0), (("H100", "NVL"), 835.0), (("H100",), 989.0), (("H200",), 989.0),
               (("A100",), 312.0))
PHASES = ("rollout", "reference", "update", "other")
SAMPLERS = ("generate", "r1kit bf16", "r1kit mixed")
FULL = dict(batches="1,8,32,128", new_tokens=256, prompts=8, group=8, micro_batch=8, repeats=3, steps=2)
TINY = dict(batches="1,2", new_tokens=8, prompts=2, group=2, micro_batch=2, repeats=1, steps=1)


def fail_if_unusable(device: str) -> None:
    """R1kitError (one line) unless `device` is cpu or a CUDA device this process can use."""
    import torch

    from r1kit.errors import R1kitError

    if device != "cpu" and not device.startswith("cuda"):
        raise R1kitError(f"--device must be cuda, cuda:N or cpu, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise R1kitError(f"--device {device}: no CUDA device is visible to torch {torch.__version__} "
                         "(torch.cuda.is_available() is False); use --device cpu --tiny for the CPU path")


def table_peak(name: str) -> float | None:
    """Dense bf16 peak in TFLOP/s of a GPU by its device name, or None if PEAK_TFLOPS does not know it."""
    for keys, tflops in PEAK_TFLOPS:
        if all(k.lower() in name.lower() for k in keys):
            return tflops
    return None


def peak_flops(args) -> tuple[float | None, str]:
    """(peak FLOP/s or None, where it comes from): --peak-tflops, the GPU table, or the CPU's measured bf16 mm."""
    import torch

    if args.peak_tflops:
        return args.peak_tflops * 1e12, f"--peak-tflops {args.peak_tflops:g}"
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(args.device))
        tflops = table_peak(name)
        if tflops is None:
            return None, f"{name!r} is not in PEAK_TFLOPS; pass --peak-tflops"
        return tflops * 1e12, f"{name}: dense bf16 {tflops:g} TFLOP/s (PEAK_TFLOPS)"
    from step_flops import matmul_peak

    sizes = [int(n) for n in args.peak_sizes.split(",")]
    gflops = max(matmul_peak(["bfloat16"], sizes, repeats=2)["bfloat16"].values())
    return gflops * 1e9, f"measured bf16 torch.mm, best of n in {sizes}, {torch.get_num_threads()} threads"


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def synced(fn, device: str):
    """fn with a torch.cuda.synchronize after it, so wall time holds the GPU work it launched."""
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        sync(device)
        return out
    return call


def memory_peak(device: str) -> str:
    """torch.cuda.max_memory_allocated since the last reset (GPU) or the process's peak RSS (CPU)."""
    import resource

    import torch

    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated(torch.device(device))
        return f"torch.cuda.max_memory_allocated {peak / 2**30:.2f} GiB"
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (cpu)"


def rollout_speed(model_dir: Path, args) -> list[dict]:
    """Median tokens/s of each sampler (SAMPLERS) per batch size in args.batches (module docstring, 1)."""
    import torch

    from r1kit.models import load_model, load_tokenizer
    from r1kit.rollout import RolloutEngine
    from rollout_vs_generate import measure, random_prompts, run_generate, run_rollout

    tokenizer = load_tokenizer(str(model_dir))
    master = load_model(model_dir, dtype="float32", device=args.device).eval()
    bf16 = load_model(model_dir, dtype="float32", device=args.device).eval().to(torch.bfloat16)
    bf16.generation_config.eos_token_id = None  # eos ignored: every row runs new_tokens steps
    plain, mixed = RolloutEngine(bf16, tokenizer), RolloutEngine(master, tokenizer, compute_dtype=torch.bfloat16)
    for engine in (plain, mixed):
        engine.eos_ids = []
    N, pad = args.new_tokens, tokenizer.pad_token_id
    rows = []
    for b in args.batches:
        prompts = random_prompts(b, 25, 50, seed=1)
        fns = {"generate": lambda s, p=prompts: run_generate(bf16, pad, p, 1, N, [], s),
               "r1kit bf16": lambda s, p=prompts: run_rollout(plain, p, 1, N, s),
               "r1kit mixed": lambda s, p=prompts: run_rollout(mixed, p, 1, N, s)}
        rate = measure({k: synced(f, args.device) for k, f in fns.items()}, args.repeats)
        rows.append({"batch": b, **rate})
        print(f"| {b} | " + " | ".join(f"{rate[k]:.0f}" for k in SAMPLERS) +
              f" | {rate['r1kit bf16'] / rate['generate']:.2f}x | {rate['r1kit mixed'] / rate['generate']:.2f}x |",
              flush=True)
    return rows


def grpo_config(model_dir: Path, out_dir: Path, args):
    """grpo_vs_trl's r1kit config with parallel.mixed_precision=bf16 at this script's P, G, tokens, micro-batch,
    on args.device."""
    from grpo_vs_trl import SETTINGS, r1kit_config

    s = dict(SETTINGS, prompts=args.prompts, group_size=args.group, new_tokens=args.new_tokens,
             micro_batch=args.micro_batch, beta=0.04)
    cfg = r1kit_config(s, model_dir, out_dir, "bf16", args.steps + 2, args.threads)
    cfg.model.device = args.device
    return cfg


def synced_meter(device: str):
    """A step_flops.PhaseMeter whose phases start and end with torch.cuda.synchronize (inside the timing: the end;
    outside: the start, so work queued by an earlier phase is not charged to this one)."""
    from step_flops import PhaseMeter

    class SyncedMeter(PhaseMeter):
        def wrap(self, phase, fn):
            timed = super().wrap(phase, synced(fn, device))

            def call(*args, **kwargs):
                sync(device)
                return timed(*args, **kwargs)
            return call

    return SyncedMeter()


def train_mfu(model_dir: Path, out_dir: Path, args) -> dict:
    """Warm-up, args.steps timed steps and one counted step of r1kit's GRPO loop (module docstring, 2). Returns
    seconds per phase per timed step and the counted step's FLOPs per phase."""
    from torch.utils.flop_counter import FlopCounterMode

    from grpo_vs_trl import hash_reward
    from r1kit.rewards import register
    from r1kit.train import grpo
    from r1kit.train.server_rollout import open_rollout_engine
    from step_flops import flop_mapping, patched

    register("bench_hash", lambda completion, example, ctx, **_: hash_reward(completion))
    run = grpo.setup_run(grpo_config(model_dir, out_dir, args))
    engine = open_rollout_engine(run)
    engine.eos_ids = []  # eos does not end a row: every completion runs all new_tokens
    meter, times, flops = synced_meter(args.device), [], {}
    undo = patched(meter)
    renamed = {"rollout": "rollout", "ref_old_logp": "reference", "update": "update"}
    try:
        for k in range(args.steps + 2):
            meter.seconds.clear()
            counter = FlopCounterMode(display=False, custom_mapping=flop_mapping()) if k == args.steps + 1 else None
            meter.counter = counter
            sync(args.device)
            t0 = time.perf_counter()
            with counter if counter is not None else contextlib.nullcontext():
                grpo.grpo_step(run, engine)
            sync(args.device)
            total = time.perf_counter() - t0
            if 1 <= k <= args.steps:
                seconds = {renamed[p]: v for p, v in meter.seconds.items()}
                times.append({**seconds, "other": total - sum(seconds.values()), "step": total})
            if counter is not None:
                counted = sum(meter.ops().values())
    finally:
        meter.counter = None
        undo()
    for p, name in renamed.items():
        flops[name] = sum(meter.flops[p].values())
    flops["other"] = counted - sum(flops.values())  # rewards and advantages: expected 0 (no matmuls)
    return dict(times=times, flops=flops)


def mfu_rows(res: dict, peak: float | None) -> list[dict]:
    """Per phase and 'step': counted FLOP, median seconds, achieved FLOP/s and MFU (None without a peak)."""
    rows = []
    for p in (*PHASES, "step"):
        seconds = statistics.median(t.get(p, 0.0) for t in res["times"])
        flop = sum(res["flops"].values()) if p == "step" else res["flops"][p]
        rate = flop / seconds if seconds > 0 else 0.0
        rows.append(dict(phase=p, flop=flop, seconds=seconds, rate=rate, mfu=rate / peak if peak else None))
    return rows


def print_mfu(rows: list[dict]) -> None:
    print("| phase | GFLOP counted | s (median) | TFLOP/s | MFU |\n|---|---:|---:|---:|---:|")
    for r in rows:
        mfu = f"{100 * r['mfu']:.2f}%" if r["mfu"] is not None else "-"
        print(f"| {r['phase']} | {r['flop'] / 1e9:.2f} | {r['seconds']:.4f} | {r['rate'] / 1e12:.4f} | {mfu} |")


def header(args) -> str:
    import torch
    import transformers

    if args.device.startswith("cuda"):
        dev = f"{torch.cuda.get_device_name(torch.device(args.device))}, CUDA {torch.version.cuda}"
    else:
        dev = f"cpu, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}"
    return f"device: {dev}; torch {torch.__version__}, transformers {transformers.__version__}"


def run(args) -> dict:
    """The benchmark (module docstring); prints the tables and returns {"rollout": rows, "mfu": rows}."""
    import torch

    from gpu_smoke import build_model

    print(header(args), flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model_dir, n = build_model(Path(tmp) / "model", args.tiny, args.vocab)
        print(f"model: random-init qwen2 {n / 1e6:.1f}M parameters, vocab {args.vocab or 'local'}; built in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        print(f"\nrollout tokens/s: independent prompts x 1 sample, {args.new_tokens} new tokens (eos ignored), T 1.0, "
              f"top-p 0.95; median of {args.repeats} after 1 warm-up, interleaved\n"
              f"| batch | {' | '.join(SAMPLERS)} | r1kit bf16 / generate | r1kit mixed / generate |\n"
              "|---:|---:|---:|---:|---:|---:|", flush=True)
        rollout = rollout_speed(model_dir, args)
        print(f"rollout section {time.perf_counter() - t0:.1f} s; {memory_peak(args.device)}", flush=True)
        gc.collect()  # the rollout section's two models, before the GRPO section's peak memory
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(torch.device(args.device))
        t0 = time.perf_counter()
        res = train_mfu(model_dir, Path(tmp) / "run", args)
        peak, source = peak_flops(args)
        print(f"\nGRPO step, parallel.mixed_precision=bf16: P={args.prompts} x G={args.group}, {args.new_tokens} new "
              f"tokens, micro-batch {args.micro_batch}, beta 0.04; median of {len(res['times'])} timed steps\n"
              f"peak: {source}")
        rows = mfu_rows(res, peak)
        print_mfu(rows)
        print(f"GRPO section {time.perf_counter() - t0:.1f} s; {memory_peak(args.device)}", flush=True)
    print(f"total {time.perf_counter() - start:.1f} s")
    return {"rollout": rollout, "mfu": rows}


def parse_args(argv=None):
    from gpu_smoke import QWEN_VOCAB, with_preset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (with --tiny: the CI path)")
    p.add_argument("--tiny", action="store_true", help="gpu_smoke's TINY shape (hidden 64, 2 layers) and TINY sizes")
    p.add_argument("--vocab", type=int, default=QWEN_VOCAB, help="vocabulary (filler tokens past 1024); 0 = 1024")
    p.add_argument("--batches", help=f"rollout sweep prompt counts ({FULL['batches']}; --tiny {TINY['batches']})")
    p.add_argument("--new-tokens", type=int, help="new tokens, rollout and GRPO (256; --tiny 8)")
    p.add_argument("--prompts", type=int, help="GRPO prompts per step P (8; --tiny 2)")
    p.add_argument("--group", type=int, help="GRPO group size G (8; --tiny 2)")
    p.add_argument("--micro-batch", type=int, help="GRPO optim.micro_batch_size (8; --tiny 2)")
    p.add_argument("--repeats", type=int, help="timed calls per sampler and batch (3; --tiny 1)")
    p.add_argument("--steps", type=int, help="timed GRPO steps (2; --tiny 1)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="dense bf16 peak TFLOP/s (0: by device)")
    p.add_argument("--peak-sizes", default="1024,2048", help="CPU only: n of the n x n bf16 mm peak")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    return with_preset(args, TINY if args.tiny else FULL)


def main(argv=None) -> int:
    import torch

    from r1kit.errors import R1kitError

    args = parse_args(argv)
    try:
        fail_if_unusable(args.device)
        from rollout_vs_generate import batch_sizes

        args.batches = batch_sizes(args.batches)
        if min(args.new_tokens, args.repeats, args.steps, args.prompts, args.group, args.micro_batch) < 1:
            raise R1kitError("--new-tokens, --repeats, --steps, --prompts, --group and --micro-batch must be >= 1")
        if args.threads:
            torch.set_num_threads(args.threads)
        run(args)
    except R1kitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
