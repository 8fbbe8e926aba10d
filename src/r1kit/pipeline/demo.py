"""`r1kit demo`: R1-Zero on a laptop, end to end, in minutes on a 2-core CPU.

1. build (or reuse from the cache) a tiny base model that mostly answers 5-digit additions
   directly and mostly wrong (base_model.py);
2. evaluate it on held-out problems: pass@1 over k samples at T = 0.6, top-p 0.95;
3. run R1-Zero GRPO on it — the R1-Zero template, a rule-based accuracy reward, nothing else;
4. evaluate again, print a before/after table and the path of the accuracy/length plot, and
   write `summary.json` in the run directory.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1kit.pipeline.base_model import BaseModelConfig, get_base_model
from r1kit.train.config import (DataConfig, EvalConfig, GRPOConfig, GRPORunConfig, ModelConfig, OptimConfig,
                                RolloutConfig)


@dataclass
class DemoConfig:
    out: str = ""
    """Run directory; default runs/demo-<date>-<time>."""
    reuse_base: bool = True
    """Reuse the cached base model when one with the same settings exists."""
    base: BaseModelConfig = field(default_factory=BaseModelConfig)
    steps: int = 150
    prompts_per_step: int = 8
    group_size: int = 8
    lr: float = 1e-4
    max_new_tokens: int = 96
    """A worked 5-digit addition is ~62 tokens; 64 would cut off a third of them."""
    n_problems: int = 100
    samples: int = 4
    eval_every: int = 50
    seed: int = 0


def grpo_config(cfg: DemoConfig, base_dir: Path, run_dir: Path) -> GRPORunConfig:
    """The R1-Zero recipe at toy scale (see recipes/tiny_cpu.yaml for the same as a file)."""
    return GRPORunConfig(
        model=ModelConfig(name_or_path=str(base_dir), device="cpu"),
        data=DataConfig(task="arithmetic", task_args={"digits": cfg.base.digits, "seed": cfg.base.seed},
                        template="r1_zero", train_size=cfg.base.n_examples, test_size=cfg.n_problems),
        rollout=RolloutConfig(prompts_per_step=cfg.prompts_per_step, group_size=cfg.group_size,
                              max_new_tokens=cfg.max_new_tokens, temperature=1.0, top_p=1.0, stop=["</answer>"]),
        grpo=GRPOConfig(advantage="grpo", eps=1e-4, clip_low=0.2, clip_high=0.2, beta=0.0, aggregation="token_mean"),
        optim=OptimConfig(lr=cfg.lr, grad_clip=1.0, schedule="constant"),
        eval=EvalConfig(samples=cfg.samples, temperature=0.6, top_p=0.95, max_new_tokens=cfg.max_new_tokens,
                        every=cfg.eval_every),
        rewards={"accuracy": 1.0, "format": 0.0},
        steps=cfg.steps, seed=cfg.seed, out_dir=str(run_dir / "grpo"), save_every=0, keep_checkpoints=1)


def evaluate_model(path: Path, gcfg: GRPORunConfig) -> "EvalResult":
    """Held-out pass@1 of the checkpoint at `path` by the run's eval settings: the GRPO loop's own
    evaluation (train.grpo.evaluate_policy), so this equals the run's step-0 point for the base model."""
    from r1kit.data.tasks import get_task
    from r1kit.models import load_model, load_tokenizer
    from r1kit.rollout import RolloutEngine
    from r1kit.train.grpo import evaluate_policy

    task = get_task(gcfg.data.task, **gcfg.data.task_args)
    engine = RolloutEngine(load_model(str(path)), load_tokenizer(str(path)))
    return evaluate_policy(engine, task, task.examples("test", gcfg.data.test_size), gcfg)


def run_demo(cfg: DemoConfig) -> dict:
    from rich.console import Console

    from r1kit.train.grpo import train_grpo

    console, t0 = Console(), time.perf_counter()
    run_dir = Path(cfg.out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    console.print(f"[bold]r1kit demo[/bold]: R1-Zero GRPO on a tiny model, {cfg.base.digits}-digit addition -> {run_dir}")
    console.print(f"[1/4] base model: random {cfg.base.arch} + local tokenizer, pretrained to answer, rarely reasoning")
    base_dir, reused = get_base_model(cfg.base, reuse=cfg.reuse_base, log=console.print)
    console.print(f"      {'reused' if reused else 'built'} {base_dir}")
    gcfg = grpo_config(cfg, base_dir, run_dir)
    console.print(f"[2/4] evaluate base: {cfg.n_problems} held-out problems x {cfg.samples} samples, T=0.6, top-p 0.95")
    before = evaluate_model(base_dir, gcfg)
    console.print(f"      pass@1 {before.pass_at_1:.3f}, mean length {before.mean_length:.1f} tokens")
    console.print(f"[3/4] GRPO: {cfg.steps} steps x {cfg.prompts_per_step} prompts x G={cfg.group_size}, accuracy reward")
    final = train_grpo(gcfg, progress=True, console=console, baseline=before)
    console.print("[4/4] evaluate after RL (the run's final held-out evaluation)")
    after = final["eval_result"]
    summary = make_summary(cfg, before, after, base_dir, reused, final, time.perf_counter() - t0)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print_table(console, summary)
    return summary


def make_summary(cfg: DemoConfig, before, after, base_dir: Path, reused: bool, final: dict, seconds: float) -> dict:
    from r1kit.eval import reasoning_share

    return {
        "before.pass@1": before.pass_at_1, "after.pass@1": after.pass_at_1,
        "before.stderr": before.stderr, "after.stderr": after.stderr,
        "before.mean_length": before.mean_length, "after.mean_length": after.mean_length,
        "before.reasoning_share": reasoning_share(before.texts), "after.reasoning_share": reasoning_share(after.texts),
        "samples_per_problem": cfg.samples, "n_problems": before.n_problems,
        "temperature": 0.6, "top_p": 0.95, "wall_seconds": round(seconds, 1),
        "base_model": str(base_dir), "base_model_reused": reused,
        "checkpoint": final["checkpoint"], "plot": final["plot"], "config": asdict(cfg),
    }


def print_table(console, s: dict) -> None:
    from rich.table import Table

    t = Table(title=f"held-out {s['n_problems']} problems, {s['samples_per_problem']} samples each, T=0.6, top-p 0.95")
    for col in ("", "before RL", "after RL"):
        t.add_column(col, justify="right")
    t.add_row("pass@1", f"{s['before.pass@1']:.3f} ± {s['before.stderr']:.3f}", f"{s['after.pass@1']:.3f} ± {s['after.stderr']:.3f}")
    t.add_row("mean response length (tokens)", f"{s['before.mean_length']:.1f}", f"{s['after.mean_length']:.1f}")
    t.add_row("answers that show reasoning", f"{s['before.reasoning_share']:.0%}", f"{s['after.reasoning_share']:.0%}")
    console.print(t)
    console.print(f"plot: {s['plot']}\nwall time: {s['wall_seconds']:.0f} s")
