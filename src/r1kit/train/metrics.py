"""Per-step metrics: JSONL (one object per step) and TensorBoard, plus the run's PNG plot.

On resume the JSONL is cut back to the checkpoint's step and TensorBoard purges later events,
so a resumed run's logs read as if it had never stopped.
"""

import json
import math
from pathlib import Path
from typing import Any


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
