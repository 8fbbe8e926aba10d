"""The rollout engine behind the evaluator's request interface (see rollout/evaluate.py, `Sampler`).

    sampler = EngineSampler(RolloutEngine(model, tokenizer), template="chat")
    sampler.generate([{"messages": [{"role": "user", "content": "2+2?"}], "n": 4, "temperature": 0.6,
                       "top_p": 0.95, "max_tokens": 64, "seed": 0}])      # [[Completion x 4]]

One call is one engine batch: every request shares requests[0]'s settings and seed, so the same
(requests, seed) always gives the same completions; that is what lets a resumed evaluation reproduce
an uninterrupted one (`whole_batches`). The user turn is rendered with `template` exactly as the GRPO
loop renders its prompts (data.templates.render_prompt).
"""

from __future__ import annotations

from typing import Callable

from r1kit.errors import R1kitError


class EngineSampler:
    """`engine`: a RolloutEngine; `template`: "chat" (R1 usage: the chat template, the response opened
    with "<think>\\n"), "r1_zero" (report Table 1) or a custom "{prompt}" string."""

    whole_batches = True

    def __init__(self, engine, template: str = "r1_zero"):
        from r1kit.data.templates import opens_think, render_prompt

        self.engine, self.template, self.tokenizer = engine, template, engine.tokenizer
        self.context = int(getattr(engine.model.config, "max_position_embeddings", 0) or 0)
        self.think_open = opens_think(render_prompt("1 + 1", template, self.tokenizer))  # chat: prompts end in <think>

    def generate(self, requests: list[dict], on_done: Callable[[int, list], None] | None = None) -> list[list]:
        """Sample every request in one engine batch; requests[0]'s settings and seed apply to all."""
        from r1kit.data.templates import render_prompt, split_reasoning
        from r1kit.rollout.evaluate import Completion
        from r1kit.rollout.types import SamplingParams

        if not requests:
            return []
        first = requests[0]
        prompts = [render_prompt(r["messages"][-1]["content"], self.template, self.tokenizer) for r in requests]
        params = SamplingParams(max_new_tokens=self.budget(prompts, first["max_tokens"]), n=first["n"],
                                temperature=first["temperature"], top_p=first["top_p"], seed=first.get("seed"),
                                stop=tuple(first.get("stop") or ()))
        out = self.engine.generate(prompts, params)
        lengths = out.completion_mask.sum(1).tolist()
        results = []
        for i in range(len(requests)):
            rows = range(i * params.n, (i + 1) * params.n)
            parts = [split_reasoning(out.texts[r], self.think_open) for r in rows]
            results.append([Completion(out.texts[r], reasoning or "", final or "", int(lengths[r]),
                                       out.finish_reasons[r]) for r, (reasoning, final) in zip(rows, parts)])
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
