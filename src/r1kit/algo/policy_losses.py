"""Policy losses beside GRPO's token-level clip: GSPO (sequence-level ratio) and CISPO (clipped, detached
importance weight), registered by name in `LOSSES` with grpo_loss's signature and (loss, diag) return.

    LOSSES[name](logp, old_logp, ref_logp, advantages, completion_mask, clip_low=, clip_high=, beta=,
                 aggregation=, max_len=, is_weights=None) -> (scalar loss, diagnostics)

is_weights (B, T), detached, None = 1: off-policy importance weights (offpolicy.py) on the policy-gradient
term only, never on the KL term; per token for GRPO and CISPO, per sequence (the row's masked mean) for GSPO.

At ratio 1 (logp == old_logp, i.e. mu = 1) the gradients relate exactly:
    CISPO == GRPO under the same aggregation (both -A * grad logp per token);
    GSPO  == GRPO with aggregation="seq_mean" (d s_i / d logp_t = s_i / |o_i|).
"""

from typing import Callable

import torch
from torch import Tensor

from r1kit.algo.losses import aggregate, grpo_loss, kl_term


def gspo_loss(
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
    """GSPO: one importance ratio per sequence, clipped per sequence (arXiv 2507.18071).

        s_i   = exp(1/|o_i| sum_t (logp_{i,t} - old_logp_{i,t}))      geometric mean of token ratios
        l_i   = -min(s_i A_i, clip(s_i, 1 - clip_low, 1 + clip_high) A_i) + beta * 1/|o_i| sum_t KL_k3(i,t)
        L     = 1/B sum_i l_i

    is_weights (B, T): the sequence's importance weight is the masked mean of its token weights,
        w_i = 1/|o_i| sum_t w_{i,t},   l_i = -w_i min(...) + beta KL_i
    -- with sequence-level TIS (offpolicy.importance_weights level="sequence") every token of a row holds
    the same weight, so w_i is exactly that sequence weight; token-level weights are averaged.
    The paper clips far tighter than token-level PPO (3e-4 low, 4e-4 high): s_i is a length-normalised
    ratio and sits close to 1. The loss is always a mean over sequences: `aggregation` and `max_len`
    are ignored (a trainer splitting micro-batches must weigh them by sequences).
    logp, old_logp, ref_logp, completion_mask: (B, T); advantages: (B,) one per sequence.
    diag: clip_frac_low / clip_frac_high are fractions of *sequences* clipped on the side that zeroes
    the gradient (s < 1-clip_low with A < 0; s > 1+clip_high with A > 0); ratio_mean is mean s_i;
    kl the mean k3 over completion tokens.
    """
    if advantages.dim() != 1:
        raise ValueError(f"gspo_loss needs one advantage per sequence (B,), got {tuple(advantages.shape)}")
    mask = completion_mask.to(logp.dtype)                               # (B, T)
    lengths = mask.sum(1).clamp(min=1)                                  # (B,)
    log_s = ((logp - old_logp) * mask).sum(1) / lengths                 # (B,)
    s = torch.exp(log_s.clamp(-20.0, 20.0))                             # (B,)
    per_seq = -torch.minimum(s * advantages, s.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages)
    if is_weights is not None:
        per_seq = per_seq * (is_weights.detach() * mask).sum(1) / lengths   # (B,) w_i, masked mean
    kl = kl_term(logp, ref_logp, beta)
    if kl is not None:
        per_seq = per_seq + beta * (kl * mask).sum(1) / lengths
    with torch.no_grad():
        n_tok = mask.sum().clamp(min=1)
        diag = {
            "clip_frac_low": float(((s < 1.0 - clip_low) & (advantages < 0)).float().mean()),
            "clip_frac_high": float(((s > 1.0 + clip_high) & (advantages > 0)).float().mean()),
            "kl": float((kl * mask).sum() / n_tok) if kl is not None else 0.0,
            "ratio_mean": float(s.mean()),
        }
    return per_seq.mean(), diag


def cispo_loss(
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
    """CISPO: clip the importance weight, not the update (MiniMax-M1, arXiv 2506.13585).

        ratio_t = exp(logp_t - old_logp_t)
        l_t     = -w_t * sg(clip(ratio_t, 1 - clip_low, 1 + clip_high)) * A * logp_t + beta * KL_k3(t)
        L       = aggregate(l, completion_mask, aggregation)               token_mean in the paper

    sg = stop-gradient: the gradient flows through logp only, d l_t / d logp_t = -clip(ratio_t) * A,
    so every token keeps a gradient, including those PPO's clip would zero (ratio past the clip on
    the side A pushes it). logp, old_logp, ref_logp, completion_mask: (B, T); advantages: (B,) or (B, T);
    is_weights: (B, T) detached importance weights w_t (None = 1).
    diag: clip_frac_low / clip_frac_high are token fractions whose *weight* was truncated
    (ratio < 1-clip_low; ratio > 1+clip_high), whatever the sign of A; kl; ratio_mean (unclipped).
    """
    mask = completion_mask.to(logp.dtype)                               # (B, T)
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages   # (B, 1) or (B, T)
    ratio = torch.exp((logp - old_logp).clamp(-20.0, 20.0))             # (B, T)
    weight = ratio.clamp(1.0 - clip_low, 1.0 + clip_high).detach()      # (B, T) no gradient
    per_token = -weight * adv * logp                                    # (B, T)
    if is_weights is not None:
        per_token = per_token * is_weights.detach()                     # (B, T) TIS
    kl = kl_term(logp, ref_logp, beta)
    if kl is not None:
        per_token = per_token + beta * kl
    loss = aggregate(per_token, mask, aggregation, max_len)
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        frac = lambda hit: float((hit.to(mask.dtype) * mask).sum() / n)
        diag = {
            "clip_frac_low": frac(ratio < 1.0 - clip_low),
            "clip_frac_high": frac(ratio > 1.0 + clip_high),
            "kl": float((kl * mask).sum() / n) if kl is not None else 0.0,
            "ratio_mean": float((ratio * mask).sum() / n),
        }
    return loss, diag


LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, float]]]] = {
    "grpo": grpo_loss,
    "gspo": gspo_loss,
    "cispo": cispo_loss,
}
