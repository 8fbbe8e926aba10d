"""`r1kit demo`: R1-Zero on a laptop, end to end, in minutes on a 2-core CPU.

1. build (or reuse from the cache) a tiny base model that mostly answers 5-digit additions
   directly and mostly wrong (base_model.py);
2. evaluate it on held-out problems: pass@1 over k samples at T = 0.6, top-p 0.95;
3. run R1-Zero GRPO on it — the R1-Zero template, a rule-based accuracy reward, nothing else;
4. evaluate again, print a before/after table and the path of the accuracy/length plot, and
   write `summary.json` in the run directory.

The GRPO settings have one source, the recipe `r1kit/recipes/tiny_cpu.yaml` shipped in the package
(`recipes/tiny_cpu.yaml` links to it): the demo fills in only what its base model decides (the model
path, the task's digits and seed) and its run directory.

    r1kit demo [--out DIR] [--fresh] [--base.digits=3 ...] [--train.steps=200 --train.optim.lr=2e-4 ...]
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1kit.config import _merge, from_dict, read_yaml
from r1kit.errors import R1kitError
from r1kit.pipeline.base_model import BaseModelConfig, get_base_model
from r1kit.train.config import GRPORunConfig

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "tiny_cpu.yaml"
"""The demo's GRPO recipe (package data)."""


@dataclass
class DemoConfig:
    out: str = ""
    """Run directory; default runs/demo-<date>-<time>."""
    reuse_base: bool = True
    """Reuse the cached base model when one with the same settings exists."""
    base: BaseModelConfig = field(default_factory=BaseModelConfig)
    recipe: str = ""
    """GRPO recipe YAML; "" = the packaged tiny_cpu.yaml (RECIPE)."""
    train: dict[str, Any] = field(default_factory=dict)
    """Overrides of the recipe, nested as in the YAML: `--train.steps=200`, `--train.rollout.group_size=4`."""


FILLED = ("model.name_or_path", "data.task_args", "out_dir")
"""Recipe keys the demo sets from its base model and run directory."""


def demo_run_config(cfg: DemoConfig, base_dir: Path, run_dir: Path) -> GRPORunConfig:
    """The recipe <- cfg.train overrides <- the base model's path and task settings and `run_dir/grpo`.

    Nothing else is set here, so with no overrides the result equals the recipe file as
    `r1kit train grpo` loads it, with the FILLED keys replaced (tested). Raises R1kitError for an
    unknown or mistyped key (named `train.<key>`) and for an override of a FILLED key.
    """
    for dotted in FILLED:
        node: Any = cfg.train
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            raise R1kitError(f"train.{dotted} is set by the demo (from --base.* and --out); do not override it")
    filled = {"model": {"name_or_path": str(base_dir)}, "out_dir": str(run_dir / "grpo"),
              "data": {"task_args": {"digits": cfg.base.digits, "seed": cfg.base.seed}}}
    return from_dict(GRPORunConfig, _merge(_merge(read_yaml(cfg.recipe or RECIPE), cfg.train), filled), "train.")


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
    demo_run_config(cfg, Path("base"), run_dir)  # a bad --train.* key fails now, not after building the base model
    console.print(f"[1/4] base model: random {cfg.base.arch} + local tokenizer, pretrained to answer, rarely reasoning")
    base_dir, reused = get_base_model(cfg.base, reuse=cfg.reuse_base, log=console.print)
    console.print(f"      {'reused' if reused else 'built'} {base_dir}")
    gcfg = demo_run_config(cfg, base_dir, run_dir)
    e, r = gcfg.eval, gcfg.rollout
    console.print(f"[2/4] evaluate base: {gcfg.data.test_size} held-out problems x {e.samples} samples, "
                  f"T={e.temperature}, top-p {e.top_p}")
    before = evaluate_model(base_dir, gcfg)
    console.print(f"      pass@1 {before.pass_at_1:.3f}, mean length {before.mean_length:.1f} tokens")
    console.print(f"[3/4] GRPO: {gcfg.steps} steps x {r.prompts_per_step} prompts x G={r.group_size}, "
                  f"rewards {gcfg.rewards}")
    final = train_grpo(gcfg, progress=True, console=console, baseline=before)
    console.print("[4/4] evaluate after RL (the run's final held-out evaluation)")
    after = final["eval_result"]
    summary = make_summary(cfg, gcfg, before, after, base_dir, reused, final, time.perf_counter() - t0)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print_table(console, summary)
    return summary


def make_summary(cfg: DemoConfig, gcfg: GRPORunConfig, before, after, base_dir: Path, reused: bool, final: dict,
                 seconds: float) -> dict:
    from r1kit.eval import reasoning_share

    return {
        "before.pass@1": before.pass_at_1, "after.pass@1": after.pass_at_1,
        "before.stderr": before.stderr, "after.stderr": after.stderr,
        "before.mean_length": before.mean_length, "after.mean_length": after.mean_length,
        "before.reasoning_share": reasoning_share(before.texts), "after.reasoning_share": reasoning_share(after.texts),
        "samples_per_problem": gcfg.eval.samples, "n_problems": before.n_problems,
        "temperature": gcfg.eval.temperature, "top_p": gcfg.eval.top_p, "wall_seconds": round(seconds, 1),
        "base_model": str(base_dir), "base_model_reused": reused,
        "checkpoint": final["checkpoint"], "plot": final["plot"], "config": asdict(cfg), "grpo_config": asdict(gcfg),
    }


def print_table(console, s: dict) -> None:
    from rich.table import Table

    t = Table(title=f"held-out {s['n_problems']} problems, {s['samples_per_problem']} samples each, "
                    f"T={s['temperature']}, top-p {s['top_p']}")
    for col in ("", "before RL", "after RL"):
        t.add_column(col, justify="right")
    t.add_row("pass@1", f"{s['before.pass@1']:.3f} ± {s['before.stderr']:.3f}", f"{s['after.pass@1']:.3f} ± {s['after.stderr']:.3f}")
    t.add_row("mean response length (tokens)", f"{s['before.mean_length']:.1f}", f"{s['after.mean_length']:.1f}")
    t.add_row("answers that show reasoning", f"{s['before.reasoning_share']:.0%}", f"{s['after.reasoning_share']:.0%}")
    console.print(t)
    console.print(f"plot: {s['plot']}\nwall time: {s['wall_seconds']:.0f} s")
