"""The local backend: a checkpoint or hub model sampled through r1kit's rollout engine.

Same interface as the endpoint backend (`generate(requests, on_done)` -> completions per request),
but a call is one engine batch: all requests share the sampling settings and one seed, so a
given (requests, seed) always yields the same completions — which is what lets a resumed
evaluation reproduce an uninterrupted one exactly.
"""

from __future__ import annotations

from typing import Callable

from r1kit.errors import R1kitError


class LocalBackend:
    """`model`: a local directory or hub name; `template`: "chat" (R1 usage: the chat template, response
    forced to begin with "<think>\\n"), "r1_zero" (report Table 1) or a custom "{prompt}" string."""

    def __init__(self, model: str, template: str = "chat", device: str = "auto", dtype: str = "float32"):
        from r1kit.models import load_model, load_tokenizer
        from r1kit.rollout import RolloutEngine
        from r1kit.train.grpo import resolve_device

        self.template = template
        self.model = load_model(model, dtype=dtype, device=resolve_device(device)).eval()
        self.tokenizer = load_tokenizer(model)
        self.engine = RolloutEngine(self.model, self.tokenizer)
        self.context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)

    def generate(self, requests: list[dict], on_done: Callable[[int, list], None] | None = None) -> list[list]:
        """Sample every request in one engine batch; requests[0]'s settings and seed apply to all."""
        from r1kit.data.templates import render_prompt
        from r1kit.eval.endpoint import Completion
        from r1kit.rollout import SamplingParams

        if not requests:
            return []
        first = requests[0]
        prompts = [render_prompt(_user_text(r), self.template, self.tokenizer) for r in requests]
        params = SamplingParams(max_new_tokens=self.budget(prompts, first["max_tokens"]), n=first["n"],
                                temperature=first["temperature"], top_p=first["top_p"], seed=first.get("seed"),
                                stop=tuple(first.get("stop") or ()))
        out = self.engine.generate(prompts, params)
        lengths = out.completion_mask.sum(1).tolist()
        results = []
        for i in range(len(requests)):
            rows = range(i * params.n, (i + 1) * params.n)
            results.append([Completion(out.texts[r], *_split(out.texts[r]), int(lengths[r]), out.finish_reasons[r])
                            for r in rows])
            if on_done:
                on_done(i, results[-1])
        return results

    def budget(self, prompts: list[str], max_tokens: int) -> int:
        """`max_tokens` capped so the longest prompt plus its completion fits the model's context."""
        if not self.context:
            return max_tokens
        longest = max(len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
        room = self.context - longest
        if room < 1:
            raise R1kitError(f"a prompt of {longest} tokens leaves no room in the model's {self.context}-token context")
        return min(max_tokens, room)

    def close(self) -> None:
        pass


def _split(text: str) -> tuple[str, str]:
    """(reasoning, content): around the last </think>; no </think> means no finished reasoning."""
    head, sep, tail = text.rpartition("</think>")
    return (head.removeprefix("<think>").strip("\n"), tail) if sep else ("", text)


def _user_text(request: dict) -> str:
    """The single user turn (r1kit evaluates with no system prompt and one turn)."""
    return request["messages"][-1]["content"]
