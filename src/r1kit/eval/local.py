"""The local backend: a checkpoint or hub model sampled through r1kit's rollout engine.

Same interface as the endpoint backend (`generate(requests, on_done)` -> completions per request); it is
rollout.sampler.EngineSampler over a model loaded from `model`, so `r1kit eval` samples a checkpoint
exactly as the GRPO loop's held-out evaluation samples the policy in memory.
"""

from __future__ import annotations

from r1kit.rollout.sampler import EngineSampler


class LocalBackend(EngineSampler):
    """`model`: a local directory or hub name; `template`: "chat" (R1 usage: the chat template, response
    forced to begin with "<think>\\n"), "r1_zero" (report Table 1) or a custom "{prompt}" string."""

    def __init__(self, model: str, template: str = "chat", device: str = "auto", dtype: str = "float32"):
        from r1kit.models import load_model, load_tokenizer
        from r1kit.models.device import resolve_device
        from r1kit.rollout import RolloutEngine

        self.model = load_model(model, dtype=dtype, device=resolve_device(device)).eval()
        super().__init__(RolloutEngine(self.model, load_tokenizer(model)), template)
