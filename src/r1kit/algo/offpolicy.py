"""Off-policy correction for rollouts sampled by an inference server (issue 11, item 5).

vLLM, SGLang or `r1kit serve` sample with kernels (and often precision) that differ from the trainer's, so
the sampler's log-probabilities pi_sampler differ from the trainer's pi_old even at the same weights. The
policy gradient then estimates the wrong expectation; truncated importance sampling (TIS; Yao et al. 2025,
"Your efficient RL framework secretly brings you off-policy RL training") reweights each token's
policy-gradient term by

    w_t = min(pi_old(y_t) / pi_sampler(y_t), C)           C ~ 2

or masks the tokens / sequences whose ratio exceeds C instead. These functions compute the weights and the
size of the gap; multiplying them into the loss is the trainer's job. Imports only torch.
"""

import math

import torch
from torch import Tensor

LEVELS = ("token", "sequence")
MODES = ("truncate", "mask")
_LOG_RATIO_MAX = 20.0  # diagnostics only: exp(20) ~ 4.9e8 keeps ratio_max finite for logging


def _check(old_logp: Tensor, sampler_logp: Tensor, completion_mask: Tensor) -> None:
    if old_logp.dim() != 2 or old_logp.shape != sampler_logp.shape or old_logp.shape != completion_mask.shape:
        raise ValueError(
            f"old_logp, sampler_logp and completion_mask must share one (B, L) shape; got "
            f"{tuple(old_logp.shape)}, {tuple(sampler_logp.shape)}, {tuple(completion_mask.shape)}"
        )


@torch.no_grad()
def importance_weights(
    old_logp: Tensor,
    sampler_logp: Tensor,
    completion_mask: Tensor,
    *,
    cap: float = 2.0,
    level: str = "token",
    mode: str = "truncate",
) -> tuple[Tensor, dict[str, float]]:
    """Truncated (or masked) importance weights pi_old / pi_sampler, no gradient.

        level="token":     log r_t = old_logp_t - sampler_logp_t                     one ratio per token
        level="sequence":  log r_i = sum_{t in mask_i} (old_logp_t - sampler_logp_t)  one per row, broadcast
        mode="truncate":   w = min(r, cap)
        mode="mask":       w = 1[r <= cap]

    old_logp: (B, L) trainer log-probabilities of the sampled tokens before the update; sampler_logp: (B, L)
    the inference server's log-probabilities of the same tokens; completion_mask: (B, L), 1 on generated
    tokens. Returns weights (B, L), zero outside the mask, computed under no_grad (a constant factor on each
    token's policy-gradient term, as in TIS), and diagnostics as floats:
      weight_mean  mean weight over masked tokens;
      capped_frac  share of units whose ratio exceeds cap (truncated or masked): masked tokens at
                   level="token", rows with at least one masked token at level="sequence";
      ratio_max    largest ratio over those units (log-ratio clamped at 20 for this number only).
    Ratios are compared in log space (log r vs log cap), so a long sequence cannot overflow exp.
    Values of old_logp / sampler_logp outside the mask are ignored, even inf or nan.
    """
    _check(old_logp, sampler_logp, completion_mask)
    if not cap > 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    if level not in LEVELS:
        raise ValueError(f"unknown importance-sampling level {level!r}; choose one of {', '.join(LEVELS)}")
    if mode not in MODES:
        raise ValueError(f"unknown importance-sampling mode {mode!r}; choose one of {', '.join(MODES)}")
    mask = completion_mask.bool()                                       # (B, L)
    log_ratio = torch.where(mask, old_logp.detach() - sampler_logp.detach(), 0.0)   # (B, L)
    if level == "sequence":
        unit_log_ratio = log_ratio.sum(dim=1, keepdim=True)             # (B, 1)
        unit_mask = mask.any(dim=1, keepdim=True)                       # (B, 1)
    else:
        unit_log_ratio, unit_mask = log_ratio, mask                     # (B, L)
    log_cap = math.log(cap)
    if mode == "truncate":
        unit_w = torch.exp(unit_log_ratio.clamp(max=log_cap))
    else:
        unit_w = (unit_log_ratio <= log_cap).to(old_logp.dtype)
    weights = torch.where(mask, unit_w.expand_as(mask), 0.0).to(old_logp.dtype)   # (B, L)
    return weights, _diagnostics(weights, mask, unit_log_ratio, unit_mask, log_cap)


def _diagnostics(weights: Tensor, mask: Tensor, unit_log_ratio: Tensor, unit_mask: Tensor, log_cap: float):
    """Mean weight over masked tokens; share of units over the cap and their largest ratio."""
    n_tok = int(mask.sum())
    lr = unit_log_ratio[unit_mask.expand_as(unit_log_ratio)]            # (U,) one per unit
    if n_tok == 0 or lr.numel() == 0:
        return {"weight_mean": 0.0, "capped_frac": 0.0, "ratio_max": 0.0}
    return {
        "weight_mean": float(weights[mask].double().mean()),
        "capped_frac": float((lr > log_cap).double().mean()),
        "ratio_max": float(torch.exp(lr.max().double().clamp(max=_LOG_RATIO_MAX))),
    }


@torch.no_grad()
def logp_gap(old_logp: Tensor, sampler_logp: Tensor, completion_mask: Tensor) -> dict[str, float]:
    """Trainer-sampler mismatch over masked tokens, as floats for logging:

        mean_abs = mean_{t in mask} |old_logp_t - sampler_logp_t|,   max_abs = max_{t in mask} |...|

    old_logp, sampler_logp, completion_mask: (B, L). Both are 0.0 when the mask is empty.
    """
    _check(old_logp, sampler_logp, completion_mask)
    mask = completion_mask.bool()                                       # (B, L)
    gap = (old_logp.detach() - sampler_logp.detach())[mask].abs()       # (N,)
    if gap.numel() == 0:
        return {"mean_abs": 0.0, "max_abs": 0.0}
    return {"mean_abs": float(gap.double().mean()), "max_abs": float(gap.max())}
