"""KL penalty to the reference policy, per token."""

import torch
from torch import Tensor


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Unbiased, non-negative per-token KL(pi_theta || pi_ref) estimator "k3" (Schulman 2020;
    DeepSeekMath eq. 4; DeepSeek-R1 eq. 2).

        D_KL ~= exp(ref_logp - logp) - (ref_logp - logp) - 1

    Each term is >= 0 (since e^x >= 1 + x) and = 0 where the two log-probabilities are equal.
    logp, ref_logp: (B, T) log-probabilities of the sampled tokens. Returns (B, T).
    The log-ratio is clamped to [-20, 20] so a far-off token cannot overflow exp.
    """
    log_ratio = (ref_logp - logp).clamp(-20.0, 20.0)                    # (B, T)
    return torch.exp(log_ratio) - log_ratio - 1.0
