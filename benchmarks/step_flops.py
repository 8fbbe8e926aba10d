"""Benchmark: a GRPO training step's achieved FLOP/s beside this CPU's measured matmul peak (issue 12, item 3).

    python benchmarks/step_flops.py --model 25m --precision both --threads 1 --steps 3
    python benchmarks/step_flops.py --model 25m --precision bf16 --threads 1 [--sizes 1024,2048,4096]
    python benchmarks/step_flops.py --shape 64,2 --sizes 128 --steps 1          # a toy run (the test's)

1. Peak: torch.mm of two n x n matrices for each n in --sizes, in each precision's matmul dtype (fp32: float32;
   bf16 and mixed: bfloat16, which oneDNN runs on AMX on Sapphire Rapids), 2 n^3 FLOP per mm, best of --repeats
   timed trials (each >= 0.2 s of back-to-back mms) after one warm-up, at --threads torch threads. The peak of
   a precision is its best size.
2. The step: the random Qwen2 of benchmarks/grpo_vs_trl.py (--model 4m / 25m, or --shape HIDDEN,LAYERS) trained by
   r1kit's own loop (setup_run, open_rollout_engine, grpo_step) in grpo_vs_trl's matched settings (`SETTINGS`:
   4 prompts x 8 samples, 64 new tokens with eos never ending a row, beta 0.04 with a reference model,
   micro-batches of 8, AdamW), --precision passed to grpo_vs_trl.r1kit_config unchanged (fp32: float32 weights;
   bf16: bfloat16 weights, gradients and AdamW state). One warm-up step (step 0 also runs the old-logp agreement
   forward), then --steps timed steps, then one counted step.
3. Phases: r1kit.train.grpo's module-level `sample_rollout` (rollout), `teacher_forced_logp` (reference and
   old-logp forwards, no grad) and `policy_update` (forward + backward + clip + AdamW step) are replaced by timing
   wrappers for the run; "other" is the rest of grpo_step (rewards, advantages). Seconds: the median over the
   timed steps, which run without a counter. FLOPs: one further step under torch.utils.flop_counter.FlopCounterMode
   (mm, addmm, bmm, and SDPA forward and backward at full s_q x s_k, causal or not; the CPU flash-attention kernel
   torch does not list is counted with torch's own SDPA formulas, oneDNN's packed bf16 linear as 2 x rows x in x
   out: `flop_mapping`). Elementwise work, norms, softmax and the
   optimizer's arithmetic are not matmuls and are not counted. GFLOP/s = counted GFLOP / median seconds;
   % of peak = against the peak of the run's precision.
4. Cross-check: 2 x matmul-params x tokens per forward (x3 for forward + backward), split into the decoder's linear
   weights times the tokens that enter the embedding and the lm_head's weight times the positions that reach it
   (forward hooks count both; the rollout's fast decoder bypasses the modules, so for it the tokens are
   U x Lp prefill + B x (Lc - 1) decode, logits U + B x (Lc - 1)). It is compared with the counted FLOPs less
   attention, which it leaves out. Where a micro-batch's rows share their prompt (r1kit.train.forward runs it
   once), the update's x3 overstates a little: the prefix pass's logits and last layer get no gradient.
   The issue's target is >= 50% of peak for the training step on the 25.4M model; the printout says whether the
   update phase and the whole step reach it, as measured.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PHASES = ("rollout", "ref_old_logp", "update", "other")
PEAK_DTYPE = {"fp32": "float32", "bf16": "bfloat16", "mixed": "bfloat16"}  # else the config's model.dtype
TARGET = 0.5  # issue 12: >= 50% of the matmul peak for the training step on the 25.4M model
SDPA_OPS = ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward",
            "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_backward",
            "_scaled_dot_product_efficient_attention", "_scaled_dot_product_efficient_attention_backward")


def mm_gflops(n: int, dtype, repeats: int = 3, min_time: float = 0.2) -> float:
    """Best-of-`repeats` GFLOP/s of torch.mm on (n, n) @ (n, n) in `dtype`: 2 n^3 FLOP per product."""
    import torch

    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
    c = torch.mm(a, b)  # warm-up: oneDNN / AMX kernel selection
    best = 0.0
    for _ in range(repeats):
        count, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=c)
            count += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        best = max(best, 2 * n**3 * count / dt / 1e9)
    return best


def matmul_peak(dtypes: list[str], sizes: list[int], repeats: int = 3) -> dict[str, dict[int, float]]:
    """{dtype name: {n: GFLOP/s}} at the current torch thread count."""
    import torch

    return {name: {n: mm_gflops(n, getattr(torch, name), repeats) for n in sizes} for name in dtypes}


def flop_mapping() -> dict:
    """FlopCounterMode custom_mapping for the CPU kernels torch 2.x does not count: its SDPA formulas for the
    flash-attention kernels (it lists CUDA's flash/efficient ones only; forward: 2 bmm (QK^T, PV), backward: 5)
    and 2 * rows * in * out for oneDNN's packed linear (rollout/fast_decode.py's bf16 decode on CPU)."""
    import torch
    from torch.utils import flop_counter as fc

    def forward(query, key, value, *_, out_shape=None, **__):  # (B, Hq, Sq, D), (B, Hkv, Sk, D), (B, Hkv, Sk, Dv)
        return fc.sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *_, out_shape=None, **__):
        return fc.sdpa_backward_flop_count(grad_out, query, key, value)

    def packed_linear(x, w, *_, out_shape=None, **__):  # x (..., in), w (out, in)
        return 2 * math.prod(x[:-1]) * w[1] * w[0]

    mapping = {}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        mapping[torch.ops.mkldnn._linear_pointwise] = packed_linear
    aten = torch.ops.aten
    ops = {"_scaled_dot_product_flash_attention_for_cpu": forward,
           "_scaled_dot_product_flash_attention_for_cpu_backward": backward}
    return {**mapping, **{getattr(aten, name): f for name, f in ops.items() if hasattr(aten, name)}}


def matmul_params(model) -> tuple[int, int]:
    """(decoder linear weights, lm_head weight) element counts: the matmul parameters of one token's forward."""
    import torch

    head = model.get_output_embeddings()
    body = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)
    return body, head.weight.numel()


class PhaseMeter:
    """Seconds per phase of the current step; in a counted step (`counter` set) also FLOPs per aten op and the
    tokens that entered the embedding / reached the lm_head, per phase."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counter = None
        self.flops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # phase -> [body tokens, logit positions]
        self.seen = [0, 0]  # running hook counts
        self.rollout_shape = None  # (U, Lp, B, Lc) of the counted step's rollout

    def ops(self) -> dict[str, int]:
        return ({str(k): v for k, v in self.counter.get_flop_counts().get("Global", {}).items()}
                if self.counter is not None else {})

    def wrap(self, phase: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            ops0, seen0, t0 = self.ops(), list(self.seen), time.perf_counter()
            out = fn(*args, **kwargs)
            self.seconds[phase] += time.perf_counter() - t0
            if self.counter is not None:
                for op, v in self.ops().items():
                    self.flops[phase][op] += v - ops0.get(op, 0)
                for i in (0, 1):
                    self.tokens[phase][i] += self.seen[i] - seen0[i]
                if phase == "rollout":
                    prompts, rollout = out[1], out[2]
                    self.rollout_shape = (len(set(prompts)), rollout.prompt_ids.shape[1], *rollout.completion_ids.shape)
            return out
        return timed

    def hook(self, model) -> list:
        """Forward hooks counting tokens into the embedding and positions into the lm_head (counted step only)."""
        def embed(_m, inputs, _out):
            if self.counter is not None:
                self.seen[0] += inputs[0].numel()

        def head(_m, inputs, _out):
            if self.counter is not None:
                self.seen[1] += inputs[0].numel() // inputs[0].shape[-1]
        return [model.get_input_embeddings().register_forward_hook(embed),
                model.get_output_embeddings().register_forward_hook(head)]


def patched(meter: PhaseMeter):
    """Replace grpo's phase functions by the meter's wrappers; returns the undo."""
    from r1kit.train import grpo

    names = {"sample_rollout": "rollout", "teacher_forced_logp": "ref_old_logp", "policy_update": "update"}
    saved = {name: getattr(grpo, name) for name in names}
    for name, phase in names.items():
        setattr(grpo, name, meter.wrap(phase, saved[name]))
    return lambda: [setattr(grpo, name, fn) for name, fn in saved.items()]


def run_steps(s: dict, model_dir: Path, out_dir: Path, precision: str, steps: int, threads: int) -> dict:
    """Warm-up, `steps` timed steps, one counted step of r1kit's loop. Returns seconds per phase per timed step,
    the counted step's FLOPs and tokens per phase, the matmul parameter counts and the config's model dtype."""
    from torch.utils.flop_counter import FlopCounterMode

    from r1kit.rewards import register
    from r1kit.train.grpo import grpo_step, setup_run
    from r1kit.train.server_rollout import open_rollout_engine
    from grpo_vs_trl import hash_reward, r1kit_config

    register("bench_hash", lambda completion, example, ctx, **_: hash_reward(completion))  # as time_r1kit does
    cfg = r1kit_config(s, model_dir, out_dir, precision, steps + 2, threads)
    run = setup_run(cfg)
    engine = open_rollout_engine(run)
    engine.eos_ids = []  # eos does not end a row: every completion runs all new_tokens
    meter, undo = PhaseMeter(), None
    hooks = meter.hook(run.model) + (meter.hook(run.ref_model) if run.ref_model is not None else [])
    times = []
    try:
        undo = patched(meter)
        for k in range(steps + 2):
            meter.seconds.clear()
            counter = FlopCounterMode(display=False, custom_mapping=flop_mapping()) if k == steps + 1 else None
            meter.counter = counter
            t0 = time.perf_counter()
            with counter if counter is not None else contextlib.nullcontext():
                grpo_step(run, engine)
            total = time.perf_counter() - t0
            if 1 <= k <= steps:
                times.append({**meter.seconds, "other": total - sum(meter.seconds.values()), "step": total})
            if counter is not None:
                counted = dict(meter.ops())
    finally:
        meter.counter = None
        if undo:
            undo()
        for h in hooks:
            h.remove()
    flops = {p: dict(meter.flops[p]) for p in PHASES[:3]}
    flops["other"] = {op: v - sum(flops[p].get(op, 0) for p in PHASES[:3]) for op, v in counted.items()}
    return dict(times=times, flops=flops, tokens={p: meter.tokens[p] for p in PHASES[:3]},
                rollout_shape=meter.rollout_shape, params=matmul_params(run.model), dtype=cfg.model.dtype)


def analytic(res: dict) -> dict[str, float | None]:
    """2 x matmul-params x tokens per phase (x3 for the update's forward + backward), attention left out; None
    for a phase whose forwards ran no modules the hooks see (mixed precision's train/lean_forward.py)."""
    body, head = res["params"]
    tokens = dict(res["tokens"])
    if tokens["rollout"] == [0, 0] and res["rollout_shape"]:  # the fast decoder runs no modules: from the shapes
        U, Lp, B, Lc = res["rollout_shape"]
        tokens["rollout"] = [U * Lp + B * (Lc - 1), U + B * (Lc - 1)]
    out = {p: 2.0 * (body * t + head * h) if (t, h) != (0, 0) else None for p, (t, h) in tokens.items()}
    out["update"] = None if out["update"] is None else 3 * out["update"]
    out["other"] = 0.0
    return out


def attention(ops: dict[str, int]) -> int:
    return sum(v for op, v in ops.items() if any(op.endswith(name) for name in SDPA_OPS))


def report(res: dict, precision: str, peak: float, out=print) -> dict[str, float]:
    """Print the per-phase table and the cross-check; returns % of peak per phase (and 'step')."""
    med = {p: statistics.median(t[p] for t in res["times"]) for p in (*PHASES, "step")}
    gflop = {p: sum(res["flops"][p].values()) / 1e9 for p in PHASES}
    gflop["step"] = sum(gflop.values())
    ana = analytic(res)
    ana["step"] = None if None in ana.values() else sum(ana.values())
    pct = {}
    out(f"\n{precision} (model dtype {res['dtype']}), peak {peak:.1f} GFLOP/s; median of {len(res['times'])} steps")
    out(f"{'phase':<13} | {'GFLOP':>8} | {'s':>7} | {'GFLOP/s':>8} | {'% peak':>6} | {'attn GFLOP':>10} | "
        f"{'2*N*tok GFLOP':>13} | {'(counted-attn)/analytic':>23}")
    for p in (*PHASES, "step"):
        rate = gflop[p] / med[p] if med[p] > 0 else 0.0
        pct[p] = 100 * rate / peak
        attn = (sum(attention(res["flops"][q]) for q in PHASES) if p == "step" else attention(res["flops"][p])) / 1e9
        ratio = f"{(gflop[p] - attn) / (ana[p] / 1e9):23.4f}" if ana[p] else f"{'-':>23}"
        analytic_gflop = f"{ana[p] / 1e9:13.2f}" if ana[p] is not None else f"{'-':>13}"
        out(f"{p:<13} | {gflop[p]:8.2f} | {med[p]:7.3f} | {rate:8.1f} | {pct[p]:5.1f}% | {attn:10.3f} | "
            f"{analytic_gflop} | {ratio}")
    body, head = res["params"]
    out(f"matmul params: decoder linears {body / 1e6:.2f}M + lm_head {head / 1e6:.2f}M; tokens [body, logits] per "
        f"phase: " + ", ".join(f"{p} {t}" for p, t in res["tokens"].items()) + f"; rollout (U, Lp, B, Lc) "
        f"{res['rollout_shape']}")
    for p in ("update", "step"):
        verdict = "meets" if pct[p] >= 100 * TARGET else "does not meet"
        out(f"target >= {100 * TARGET:.0f}% of peak: {'the update phase' if p == 'update' else 'the whole step'} "
            f"{verdict} it ({pct[p]:.1f}%)")
    return pct


def parse_args(argv=None):
    from grpo_vs_trl import SHAPES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(SHAPES), default="25m")
    parser.add_argument("--shape", default="", help="HIDDEN,LAYERS instead of --model (e.g. 64,2)")
    parser.add_argument("--precision", default="both",
                        help="a precision grpo_vs_trl.r1kit_config takes (fp32, bf16, ...), or both = fp32 and bf16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for the peak and the steps (0: default)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up; one more is counted)")
    parser.add_argument("--sizes", default="1024,2048,4096", help="square matmul sizes for the peak")
    parser.add_argument("--repeats", type=int, default=3, help="timed trials per matmul size (best counts)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """The benchmark; returns {precision: % of peak per phase} (for the test)."""
    import torch

    from grpo_vs_trl import SETTINGS, SHAPES, build_model_dir, fail

    args = parse_args(argv)
    try:
        shape = tuple(int(x) for x in args.shape.split(",")) if args.shape else SHAPES[args.model]
        sizes = [int(x) for x in args.sizes.split(",")]
        assert len(shape) == 2 and sizes and args.steps >= 1
    except (ValueError, AssertionError):
        fail(f"bad --shape {args.shape!r}, --sizes {args.sizes!r} or --steps {args.steps}: "
             "want HIDDEN,LAYERS, n1,n2,... and >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}; "
          f"model hidden {shape[0]} x {shape[1]} layers; 1 warm-up + {args.steps} timed + 1 counted step")
    results, s = {}, dict(SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model_dir(*shape, Path(tmp) / "model")
        runs = {p: run_steps(s, model_dir, Path(tmp) / f"run-{p}", p, args.steps, args.threads) for p in precisions}
        dtypes = sorted({PEAK_DTYPE.get(p, runs[p]["dtype"]) for p in precisions})
        peaks = matmul_peak(dtypes, sizes, args.repeats)  # after the steps: the model build does not compete
        print(f"\nmatmul peak, GFLOP/s (torch.mm n x n, best of {args.repeats}, {torch.get_num_threads()} threads)")
        print(f"{'dtype':<9} | " + " | ".join(f"{n:>7}" for n in sizes) + " |    best")
        for name, row in peaks.items():
            print(f"{name:<9} | " + " | ".join(f"{row[n]:7.1f}" for n in sizes) + f" | {max(row.values()):7.1f}")
        for p in precisions:
            results[p] = report(runs[p], p, max(peaks[PEAK_DTYPE.get(p, runs[p]["dtype"])].values()))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return results


if __name__ == "__main__":
    main()
