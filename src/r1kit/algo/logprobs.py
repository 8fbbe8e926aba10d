"""Per-token log-probabilities and entropy from logits."""

import torch
from torch import Tensor


def token_logprobs(logits: Tensor, tokens: Tensor, temperature: float = 1.0) -> Tensor:
    """log pi(token) under the sampling policy: log_softmax(logits / T)[token].

    This is the quantity the PPO/GRPO ratio needs: the policy's distribution at temperature T,
    *not* the top-p-renormalised one the sampler drew from (transformers' `generate(...,
    output_scores=True)` returns scores after top-p renormalisation, checked with transformers 5.24; ours
    are before it). T = 0 (greedy) is treated as T = 1.
    logits: (B, T, V), tokens: (B, T) int. Returns (B, T) float32.
    Computed as logit[token] - logsumexp(logits), which avoids materialising a (B, T, V) log_softmax.
    """
    scaled = logits.float()
    if temperature and temperature != 1.0:
        scaled = scaled / temperature                                   # (B, T, V)
    picked = scaled.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)        # (B, T)
    return picked - torch.logsumexp(scaled, dim=-1)


def token_entropy(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Entropy of the policy at temperature T at each position: -sum_v p_v log p_v.

    logits: (B, T, V). Returns (B, T) float32. A diagnostic only (no gradient needed).
    """
    scaled = logits.float()
    if temperature and temperature != 1.0:
        scaled = scaled / temperature
    logp = torch.log_softmax(scaled, dim=-1)                            # (B, T, V)
    return -(logp.exp() * logp).sum(-1)
