"""The `per_type` reward: stage 4 of the R1 recipe scores each prompt by its type (issue 10).

The R1 report (section 2.3.4) trains its last RL stage on a mix: reasoning prompts get the rule rewards
of R1-Zero, general prompts a reward model of human preference, and every prompt the language-consistency
reward. An example names its type in a meta field; this reward applies that type's weighted rewards:

    rewards: {per_type: 1.0, language: 0.1}          # language consistency: every prompt
    reward_options:
      per_type:
        type_key: type                               # example.meta["type"]; absent -> `default`
        default: reasoning
        weights:
          reasoning: {accuracy: 1.0, format: 1.0}    # rule rewards
          general: {reward_model: 1.0}               # the Bradley-Terry model (r1kit train rm)
        options: {reward_model: {path: runs/rm}}     # options of the inner rewards, as reward_options

per_type_i = sum_k weights[type_i][k] * (r_k(completion_i) or 0); None when type_i has no weights or all
of its components are None (the reward does not apply). Inner rewards run batched over each type's rows.
"""

from __future__ import annotations

import logging
from typing import Any

from r1kit.errors import R1kitError

log = logging.getLogger(__name__)


def prompt_type(example, type_key: str = "type", default: str = "reasoning") -> str:
    meta = getattr(example, "meta", None) or {}
    value = meta.get(type_key) if isinstance(meta, dict) else None
    return str(value) if value not in (None, "") else default


def per_type_rewards(completions: list[str], examples: list, contexts: list, *, type_key: str = "type",
                     default: str = "reasoning", weights: dict[str, dict[str, float]] | None = None,
                     options: dict[str, dict[str, Any]] | None = None) -> list[float | None]:
    """The batched reward (see the module docstring); never raises: a failure gives None for its type."""
    from r1kit.rewards.registry import compute_rewards

    weights, options = weights or {}, options or {}
    types = [prompt_type(ex, type_key, default) for ex in examples]
    scores: list[float | None] = [None] * len(completions)
    for kind in sorted(set(types) & set(weights)):
        rows = [i for i, t in enumerate(types) if t == kind]
        try:
            _check_inner(weights[kind])
            _, parts = compute_rewards([completions[i] for i in rows], [examples[i] for i in rows], None,
                                       weights[kind], contexts=[contexts[i] for i in rows],
                                       options={k: v for k, v in options.items() if k in weights[kind]})
        except Exception:  # the reward contract: never raise
            log.exception("per_type: rewards of prompt type %r failed; those samples get None", kind)
            continue
        for j, i in enumerate(rows):
            got = [(w, parts[name][j]) for name, w in weights[kind].items()]
            if any(s is not None for _, s in got):
                scores[i] = sum(w * (s or 0.0) for w, s in got)
    return scores


def per_type_reward(completion: str, example, ctx, *, type_key: str = "type", default: str = "reasoning",
                    weights: dict[str, dict[str, float]] | None = None,
                    options: dict[str, dict[str, Any]] | None = None) -> float | None:
    """One completion's per-type reward (see `per_type_rewards`)."""
    return per_type_rewards([completion], [example], [ctx], type_key=type_key, default=default,
                            weights=weights, options=options)[0]


def _check_inner(weights: dict[str, float]) -> None:
    if "per_type" in weights:
        raise R1kitError("per_type: a prompt type's weights cannot name per_type itself")


def per_type_preflight(options: dict) -> None:
    """Before a run: every inner reward and option exists (and passes its own preflight, e.g. the RM loads)."""
    from r1kit.rewards.registry import check_rewards

    weights, inner = options.get("weights") or {}, options.get("options") or {}
    if not weights:
        raise R1kitError("per_type: set reward_options.per_type.weights, e.g. {reasoning: {accuracy: 1.0}}")
    named = set().union(*(w.keys() for w in weights.values()))
    stray = sorted(set(inner) - named)
    if stray:
        raise R1kitError(f"per_type: options for {', '.join(stray)}, which no prompt type weights")
    for kind, w in weights.items():
        _check_inner(w)
        check_rewards(w, {k: v for k, v in inner.items() if k in w}, preflight=True)
