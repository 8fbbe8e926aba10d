"""rollout: the one generation path (training, eval, serving).

    from r1kit.rollout import RolloutEngine, SamplingParams
    rollout = RolloutEngine(model, tokenizer).generate(prompts, SamplingParams(n=8, seed=0))

Importing this package imports torch only; transformers loads when a cache is first built.
"""

from r1kit.rollout.engine import DecodeState, RolloutEngine
from r1kit.rollout.types import Rollout, SamplingParams

__all__ = ["DecodeState", "Rollout", "RolloutEngine", "SamplingParams"]
