"""The GRPO objective: clipped surrogate, KL penalty, and loss aggregation as separate choices.

GRPO (DeepSeekMath), DAPO and Dr. GRPO share the per-token surrogate and differ in the
advantage scale (advantages.py), the clip range, and how per-token losses become one number
(`AGGREGATIONS` below).
"""

from typing import Callable

import torch
from torch import Tensor

from r1kit.algo.kl import k3_kl


def clipped_surrogate(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, clip_low: float, clip_high: float
) -> tuple[Tensor, Tensor]:
    """PPO clipped surrogate per token, negated into a loss (DeepSeek-R1 eq. 1).

        ratio = exp(logp - old_logp)
        L_t   = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A)

    Separate low/high clip is DAPO's clip-higher (arXiv 2503.14476 §3.1); clip_low = clip_high
    is the symmetric PPO clip. logp, old_logp: (B, T); advantages: (B,) (one per sequence,
    broadcast over its tokens) or (B, T). Returns (loss (B, T), ratio (B, T)).
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)                            # (B, 1)
    ratio = torch.exp((logp - old_logp).clamp(-20.0, 20.0))             # (B, T)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages
    return -torch.minimum(unclipped, clipped), ratio


def seq_mean(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """Original GRPO: mean over each sequence's own tokens, then mean over sequences.

        L = 1/B sum_i 1/|o_i| sum_t l_{i,t}
    A long sequence's tokens each weigh less than a short one's (the length bias Dr. GRPO names).
    Empty sequences (no tokens) count 0 and still count in B.
    """
    per_seq = (loss * mask).sum(1) / mask.sum(1).clamp(min=1)           # (B,)
    return per_seq.mean()


def token_mean(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """DAPO token-level loss (§3.3): mean over all completion tokens of the batch.

        L = sum_{i,t} l_{i,t} / sum_i |o_i|
    """
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def constant(loss: Tensor, mask: Tensor, max_len: int | None = None) -> Tensor:
    """Dr. GRPO (§3.1): masked sum divided by a constant, B * max_len (max completion length).

        L = sum_{i,t} l_{i,t} / (B * L_max)
    max_len defaults to the padded width T of the batch; pass the configured max_new_tokens so
    the constant does not depend on what this batch happened to generate.
    """
    width = max_len if max_len is not None else loss.shape[1]
    return (loss * mask).sum() / (loss.shape[0] * width)


AGGREGATIONS: dict[str, Callable[..., Tensor]] = {
    "seq_mean": seq_mean,
    "token_mean": token_mean,
    "constant": constant,
}


def aggregate(loss: Tensor, mask: Tensor, mode: str, max_len: int | None = None) -> Tensor:
    """Reduce a per-token loss (B, T) under mask (B, T) to a scalar by the named rule."""
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {mode!r}; choose from {sorted(AGGREGATIONS)}")
    return AGGREGATIONS[mode](loss, mask.to(loss.dtype), max_len)


def kl_term(logp: Tensor, ref_logp: Tensor | None, beta: float) -> Tensor | None:
    """The k3 KL to the reference per token (B, T) when beta > 0, else None; ValueError when beta > 0 and
    ref_logp is None. Every policy loss adds beta * this to its per-token (or per-sequence) loss."""
    if beta <= 0.0:
        return None
    if ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp")
    return k3_kl(logp, ref_logp)


def grpo_loss(
    logp: Tensor,
    old_logp: Tensor,
    ref_logp: Tensor | None,
    advantages: Tensor,
    completion_mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    beta: float = 0.0,
    aggregation: str = "token_mean",
    max_len: int | None = None,
    is_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """The GRPO loss for one (micro-)batch (DeepSeek-R1 eq. 1-2 as a loss to minimise).

        l_t = -w_t * min(ratio_t A, clip(ratio_t, 1-clip_low, 1+clip_high) A) + beta * KL_k3(t)
        L   = aggregate(l, completion_mask, aggregation)

    logp: (B, T) with grad; old_logp: (B, T) from the rollout policy; ref_logp: (B, T) or None
    (required when beta > 0); advantages: (B,); completion_mask: (B, T) 1 on generated tokens;
    is_weights: (B, T) importance weights w_t = pi_old / pi_sampler, e.g. truncated (offpolicy.py), used
    as constants (detached); None = 1. They scale the policy-gradient term only, never the KL term.
    Returns the scalar loss and diagnostics over masked tokens: clip_frac_low (ratio clipped
    below, A < 0), clip_frac_high (clipped above, A > 0), kl (mean k3), ratio_mean.
    """
    mask = completion_mask.to(logp.dtype)                               # (B, T)
    per_token, ratio = clipped_surrogate(logp, old_logp, advantages, clip_low, clip_high)
    if is_weights is not None:
        per_token = per_token * is_weights.detach()                     # (B, T) TIS
    kl = kl_term(logp, ref_logp, beta)                                  # (B, T) or None
    if kl is not None:
        per_token = per_token + beta * kl
    loss = aggregate(per_token, mask, aggregation, max_len)
    return loss, _diagnostics(ratio, advantages, kl, mask, clip_low, clip_high)


@torch.no_grad()
def _diagnostics(
    ratio: Tensor, advantages: Tensor, kl: Tensor | None, mask: Tensor, clip_low: float, clip_high: float
) -> dict[str, float]:
    """Token fractions where the clip is active (the gradient is zeroed), mean k3 KL, mean ratio."""
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages   # (B, 1) or (B, T)
    n = mask.sum().clamp(min=1)
    low = ((ratio < 1.0 - clip_low) & (adv < 0)).to(mask.dtype)         # (B, T)
    high = ((ratio > 1.0 + clip_high) & (adv > 0)).to(mask.dtype)       # (B, T)
    return {
        "clip_frac_low": float((low * mask).sum() / n),
        "clip_frac_high": float((high * mask).sum() / n),
        "kl": float((kl * mask).sum() / n) if kl is not None else 0.0,
        "ratio_mean": float((ratio * mask).sum() / n),
    }
