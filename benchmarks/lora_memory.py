"""Memory of full fine-tuning vs LoRA (model.lora r=8) for a few SFT steps on a small random qwen2.

    python benchmarks/lora_memory.py                              # hidden 512, 8 layers (the speed benchmarks' 25.4M shape)
    python benchmarks/lora_memory.py --hidden 1024 --layers 12    # a larger one

Each variant runs in a fresh subprocess (`--worker`): setup_sft (load the model, apply LoRA, build AdamW),
then `--steps` sft_step calls, as `r1kit train sft` runs them; the worker then reports, from the live
objects,

    trainable   parameters with requires_grad
    grad bytes  sum of p.grad bytes (gradients are kept after a step until the next zero_grad)
    optim bytes sum of AdamW state tensors (exp_avg, exp_avg_sq, step) bytes
    param bytes every parameter (frozen base + adapters)

    setup peak  the child's VmHWM (peak RSS so far, /proc/self/status) right after setup_sft: the interpreter,
                torch (and peft), the model, the adapters, the data -- before any step

and the parent reads the child's peak resident set size, ru_maxrss, from os.wait4 (the per-child value
of what resource.getrusage(RUSAGE_CHILDREN) reports; one child per variant, so no variant's peak hides
another's). Peak RSS minus the setup peak is what the training steps add (gradients, optimizer state,
activations). Variants: full fine-tuning; LoRA r=8 alpha=16 on the attention projections (q/k/v/o_proj,
the default); LoRA r=8 on every linear layer (attention + MLP).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
VARIANTS = {"full": {}, "lora r=8 (attention)": {"r": 8, "alpha": 16},
            "lora r=8 (all linear)": {"r": 8, "alpha": 16, "target_modules": ALL_LINEAR}}


def build(work: Path, hidden: int, layers: int) -> Path:
    """A random qwen2 (heads = hidden / 64, kv heads = heads / 2, MLP 3 x hidden, tied embeddings) and chat data."""
    from r1kit.models import new_model

    heads = hidden // 64
    model = new_model("qwen2", "tiny", work / "model", seed=0, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), intermediate_size=3 * hidden)
    rows = []
    for i in range(64):
        a, b = 100 + 7 * i, 23 + 3 * i
        steps = " ".join(f"digit {k}: {int(str(a)[-k - 1]) if k < len(str(a)) else 0} plus "
                         f"{int(str(b)[-k - 1]) if k < len(str(b)) else 0}." for k in range(3))
        rows.append({"messages": [{"role": "user", "content": f"What is {a}+{b}?"},
                                  {"role": "assistant", "content": f"<think>\n{steps} So {a}+{b}={a + b}.\n</think>\n\n{a + b}"}]})
    (work / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return model


def slug(variant: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in variant)


def sft_config(work: Path, variant: str, steps: int) -> dict:
    return {"model": {"name_or_path": str(work / "model"), "device": "cpu", "lora": VARIANTS[variant]},
            "data": {"path": str(work / "chat.jsonl"), "batch_size": 16, "max_length": 256, "packing": True},
            "optim": {"lr": 1e-4, "micro_batch_size": 2}, "steps": steps, "save_every": 0, "threads": 1,
            "out_dir": str(work / "runs" / slug(variant))}


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def worker(config: str, steps: int) -> int:
    """setup_sft, `steps` sft_step calls; prints the live objects' sizes as one JSON line."""
    import torch

    from r1kit.config import load_config
    from r1kit.train.sft_config import SFTRunConfig
    from r1kit.train.sft_run import setup_sft, sft_step

    run, _ = setup_sft(load_config(SFTRunConfig, config))
    status = Path("/proc/self/status").read_text()
    setup_peak = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
    losses = [sft_step(run)["loss"] for _ in range(steps)]
    params = list(run.model.parameters())
    state = [t for s in run.opt.state.values() for t in s.values() if torch.is_tensor(t)]
    print(json.dumps({"params": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad),
                      "param_bytes": tensor_bytes(params), "grad_bytes": tensor_bytes(p.grad for p in params if p.grad is not None),
                      "optim_bytes": tensor_bytes(state), "setup_peak": setup_peak, "losses": losses}))
    return 0


def measure(work: Path, variant: str, steps: int) -> dict:
    """One variant in a fresh child: its report plus the child's peak RSS (bytes)."""
    config, log = work / f"{slug(variant)}.json", work / f"{slug(variant)}.stderr.txt"
    config.write_text(json.dumps(sft_config(work, variant, steps)))
    with log.open("w") as errors:
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(config), str(steps)],
                                 stdout=subprocess.PIPE, stderr=errors, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)  # the child's own rusage (Popen.wait would reap it first)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"error: variant {variant!r} failed (exit {code}); stderr in {log}")
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_rss"] = usage.ru_maxrss * 1024  # Linux reports KiB
    return report


def table(results: dict[str, dict]) -> str:
    mib = lambda b: f"{b / 2**20:.1f}"
    lines = ["| variant | trainable params | grad MiB | optimizer state MiB | grad + optimizer MiB | setup peak MiB | "
             "peak RSS MiB | peak - setup peak MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        trainable = f"{r['trainable'] / 1e6:.3f}M ({100 * r['trainable'] / r['params']:.2f}%)"
        lines.append(f"| {name} | {trainable} | {mib(r['grad_bytes'])} | {mib(r['optim_bytes'])} | "
                     f"{mib(r['grad_bytes'] + r['optim_bytes'])} | {mib(r['setup_peak'])} | {mib(r['peak_rss'])} | "
                     f"{mib(r['peak_rss'] - r['setup_peak'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1], int(argv[2]))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="SFT steps per variant (16 examples each)")
    p.add_argument("--work", default="runs/lora-memory", help="scratch folder; must be new")
    args = p.parse_args(argv)
    work = Path(args.work)
    if work.exists():
        print(f"error: {work} exists; choose another --work", file=sys.stderr)
        return 2
    build(work, args.hidden, args.layers)
    results = {}
    for variant in VARIANTS:
        results[variant] = measure(work, variant, args.steps)
        r = results[variant]
        print(f"{variant}: {r['params'] / 1e6:.2f}M parameters, losses {['%.3f' % x for x in r['losses']]}", flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
