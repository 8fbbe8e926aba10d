"""A progress bar with ETA (rich), quiet when disabled or not a terminal.

A base module (beside config.py and errors.py) because training and evaluation both show one and
neither may import the other. `rich` loads with this module, which only train/ and eval/ import.
"""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class StepProgress:
    """`with StepProgress(total, start) as bar: bar.update(step, metrics)`."""

    KEYS = (("reward/total_mean", "reward"), ("reward/accuracy_mean", "acc"), ("response_length/mean", "len"),
            ("eval/pass@1", "pass@1"))

    def __init__(self, total: int, start: int = 0, enabled: bool = True, console: Console | None = None,
                 description: str = "grpo"):
        self.enabled = enabled
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[info]}"), console=console, disable=not enabled,
                                 transient=False)
        self.task = self.progress.add_task(description, total=total, completed=start, info="")

    def __enter__(self) -> "StepProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, step: int, metrics: dict | None = None) -> None:
        info = " ".join(f"{short} {metrics[k]:.3g}" for k, short in self.KEYS if metrics and metrics.get(k) is not None)
        self.progress.update(self.task, completed=step, info=info)
