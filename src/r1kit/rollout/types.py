"""The rollout contract's two dataclasses: what to sample (`SamplingParams`) and what came back (`Rollout`).

Both are plain data; they import only torch. See docs/ARCHITECTURE.md, "rollout/".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from r1kit.errors import R1kitError


@dataclass
class SamplingParams:
    """How to sample completions for a list of prompts."""

    max_new_tokens: int = 256
    """Most tokens generated per completion (the eos / stop token counts)."""
    temperature: float = 1.0
    """Softmax temperature T; 0 means greedy (argmax) decoding."""
    top_p: float = 1.0
    """Nucleus sampling: sample from the smallest set of tokens whose probability under
    softmax(logits / T) reaches top_p. The recorded logp ignores this truncation."""
    n: int = 1
    """Samples per prompt; the n rows of a prompt are contiguous in the output."""
    stop: tuple[str, ...] = ()
    """Stop strings, matched on the decoded completion; the stop string is kept."""
    seed: int | None = None
    """Seed of this call's own torch.Generator; the same seed gives the same output."""

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(s for s in self.stop if s)
        if self.max_new_tokens < 1:
            raise R1kitError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise R1kitError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise R1kitError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n < 1:
            raise R1kitError(f"n must be >= 1, got {self.n}")


@dataclass
class Rollout:
    """Sampled completions, B = P * n rows, rows of one prompt contiguous.

    The policy logprob `logp` is log_softmax(logits / T) of the sampled token in fp32 (log_softmax(logits)
    when T = 0) -- the quantity the GRPO ratio needs, not the top-p renormalised one.
    """

    prompt_ids: torch.Tensor  # (B, Lp) left-padded with pad id
    prompt_mask: torch.Tensor  # (B, Lp) 1 = real token
    completion_ids: torch.Tensor  # (B, Lc) right-padded with pad id
    completion_mask: torch.Tensor  # (B, Lc) 1 = generated token (incl. the eos / stop token)
    logp: torch.Tensor  # (B, Lc) float32, 0 where masked
    texts: list[str]  # decoded completions (special tokens kept, eos/pad stripped)
    finish_reasons: list[str]  # "stop" (eos or stop string) | "length"
    prompt_index: list[int]  # row -> index of its prompt in the input list
