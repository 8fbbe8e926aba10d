"""What a reward may know about a completion besides its text: `RewardContext`.

The reward contract (docs/ARCHITECTURE.md, "rewards/"):

    def my_reward(completion: str, example: Example, ctx: RewardContext, **options) -> float | None

* `completion` is the decoded completion (special tokens kept, eos/pad stripped);
* `example` is the problem it answers (`example.answer` the gold, `example.meta` task fields);
* `ctx` carries the task and the generation facts a length-aware reward needs;
* keyword `options` come from the run's YAML (`reward_options: {name: {key: value}}`);
* the result is a float, or None for "does not apply to this sample" (e.g. an unparsable gold);
* a reward never raises and returns in bounded time, whatever the completion holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RewardContext:
    """Per-completion facts from the rollout. Unknown facts are None (a reward may then return None)."""

    task: Any = None
    """The task the example comes from (its `scorer` tells r1kit.verify how to check it), or None."""
    num_tokens: int | None = None
    """Completion length in tokens, the eos / stop token included."""
    max_tokens: int | None = None
    """The generation budget (`max_new_tokens`) the completion was sampled under."""
    truncated: bool = False
    """True when generation stopped at `max_tokens` (finish reason "length")."""
    think_open: bool = False
    """True when the prompt ended inside an opened <think> block (the R1 chat form): a completion
    without </think> then has not finished reasoning and has no final answer."""
