"""Per-step metrics: JSONL (one object per step) and TensorBoard, plus the run's PNG plot; and what GRPO
measures of a step's rollout (rollout_metrics, over every rank: step_metrics).

On resume the JSONL is cut back to the checkpoint's step and TensorBoard purges later events,
so a resumed run's logs read as if it had never stopped.
"""

import json
import math
from pathlib import Path
from typing import Any

import torch

from r1kit.train.dist import Dist


class MetricsLogger:
    def __init__(self, run_dir: Path, resume_step: int = 0, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        rows = read_metrics(self.path) if resume_step > 0 else []
        kept = [r for r in rows if r.get("step", 0) <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step + 1 if resume_step else None)
            except ImportError:  # tensorboard is a declared dependency; tolerate its absence in minimal installs
                self.writer = None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def read_metrics(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill: drop it
            continue
    return rows


def plot_run(metrics_path: Path, out_png: Path, accuracy_key: str = "reward/accuracy_mean") -> Path:
    """Accuracy and mean response length over steps (the report's Figures 2 and 3, in miniature)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    train = [r for r in rows if r.get(accuracy_key) is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot([r["step"] for r in train], [r[accuracy_key] for r in train], lw=1, alpha=0.5,
             label="training reward (accuracy)")
    evals = [(r["step"], r["eval/pass@1"]) for r in rows if r.get("eval/pass@1") is not None]
    if evals:
        ax1.plot(*zip(*evals), "o-", color="C3", label="held-out pass@1")
    ax1.set(xlabel="step", ylabel="accuracy", title="Accuracy during RL", ylim=(-0.02, 1.02))
    ax1.legend(loc="lower right", fontsize=8)
    ax2.plot([r["step"] for r in train], [r.get("response_length/mean") for r in train], lw=1, color="C2")
    ax2.set(xlabel="step", ylabel="tokens", title="Mean response length during RL")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def rollout_metrics(lengths: torch.Tensor, finish_reasons: list[str], texts: list[str], components: dict,
                    totals: torch.Tensor, flat: torch.Tensor, think_open: bool = False) -> dict[str, float]:
    """Reward, length and shape statistics of a step's completions. lengths, totals: (B,); flat: (P,)."""
    from r1kit.rollout.evaluate import reasoning_share

    out = {"reward/total_mean": totals.mean().item(), "reward/total_std": totals.std(correction=0).item()}
    for name, values in components.items():
        v = torch.tensor([x for x in values if x is not None] or [0.0])
        out[f"reward/{name}_mean"], out[f"reward/{name}_std"] = v.mean().item(), v.std(correction=0).item()
        out[f"reward/{name}_skipped"] = sum(x is None for x in values) / max(len(values), 1)
    out["response_length/mean"] = lengths.mean().item()
    out["response_length/max"] = lengths.max().item()
    out["truncated_frac"] = sum(r == "length" for r in finish_reasons) / len(finish_reasons)
    out["zero_spread_frac"] = flat.float().mean().item()
    out["reasoning_frac"] = reasoning_share(texts, think_open)
    return out


def step_metrics(dist: Dist, rollout, components: dict, totals: torch.Tensor, flat: torch.Tensor,
                 think_open: bool, stats: dict[str, float]) -> dict[str, float]:
    """The step's rollout_metrics and update statistics over every rank: the rollouts' rows gathered and
    measured together; `stats` averaged over ranks, or their max for keys ending in "max" (the update's own
    are already global, hence equal on every rank)."""
    local = (rollout.completion_mask.sum(1).float().cpu(), list(rollout.finish_reasons), list(rollout.texts),
             components, totals.cpu(), flat.cpu(), stats)
    if not dist.active:
        return {**rollout_metrics(*local[:6], think_open), **stats}
    parts = dist.gather(local)
    joined = (torch.cat([p[0] for p in parts]), sum((p[1] for p in parts), []), sum((p[2] for p in parts), []),
              {k: sum((p[3][k] for p in parts), []) for k in components}, torch.cat([p[4] for p in parts]),
              torch.cat([p[5] for p in parts]))
    reduced = {}
    for key in {k for p in parts for k in p[6]}:
        values = [p[6][key] for p in parts if key in p[6]]
        reduced[key] = max(values) if key.endswith("max") else sum(values) / len(values)
    return {**rollout_metrics(*joined, think_open), **reduced}
