"""Next-token sampling: greedy, temperature and nucleus (top-p), returning the policy logprob.

    logp = log_softmax(logits / T)[token]        T > 0  (fp32; ignores the top-p truncation)
    logp = log_softmax(logits)[token]            T = 0  (greedy: token = argmax)

Sampling uses the inverse CDF: a uniform u per row, token = first index whose cumulative
probability exceeds u * Z (Z = kept mass): no renormalisation pass, no multinomial.

Top-p without sorting the vocabulary (a sort of the whole row is the costliest op of a small
model's step): draw candidates from the full distribution and accept the first that lies in the
nucleus -- token i is in it iff the mass of tokens more probable than i is < top_p. That is
rejection sampling, so accepted tokens follow p restricted to the nucleus, renormalised; each
draw is accepted with probability >= top_p. Rows with no accepted draw (rare when top_p is high)
take the exact sorted-nucleus path. Only torch; each step is a few batched tensor ops.
"""

from __future__ import annotations

import torch

DRAWS = 2  # rejection-sampling candidates per row before the sorted fallback
TOPK_PROBE = 64  # the sorted path tries the top-64 tokens; a full sort only when they hold < top_p of the mass


def sample_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None,
    u: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row.  logits: (A, V) any float dtype.  Returns tokens (A,) long, logp (A,) fp32.

    u: the uniforms (A, DRAWS + 1) to use instead of drawing them from `generator` -- a caller that
    batches rows with generators of their own draws each row's from its own (see serve/batcher.py).
    """
    logits = logits.float()
    if temperature == 0:
        logp_all = torch.log_softmax(logits, dim=-1)  # (A, V)
        tokens = logp_all.argmax(dim=-1)  # (A,)
    else:
        logp_all = torch.log_softmax(logits / temperature, dim=-1)  # (A, V)
        if u is None:
            u = torch.rand(logits.shape[0], DRAWS + 1, generator=generator, device=logits.device)  # (A, D + 1)
        probs = logp_all.exp()  # (A, V)
        tokens = _sample_top_p(probs, top_p, u) if top_p < 1.0 else _inverse_cdf(probs, u[:, :1]).squeeze(1)
    logp = logp_all.gather(1, tokens[:, None]).squeeze(1)  # (A,)
    return tokens, logp


def top_logprobs(logits: torch.Tensor, temperature: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most likely next tokens under the distribution `sample_tokens` reports logp from:

        log_softmax(logits / T)    T > 0;    log_softmax(logits)    T = 0

    (before top-p truncation, so the values are comparable with the sampled token's logp, which is
    the same expression at that token).  logits: (A, V).  Returns logp (A, k) fp32, descending, and
    token ids (A, k) long.
    """
    logits = logits.float()
    logp_all = torch.log_softmax(logits / temperature if temperature else logits, dim=-1)  # (A, V)
    return logp_all.topk(k, dim=-1)


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Tokens (A, D) with cdf[i-1] <= u * Z < cdf[i] for u (A, D); right=True: zero-probability tokens never."""
    cdf = probs.cumsum(dim=-1)  # (A, V)
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)  # (A, D)
    return idx.clamp_(max=probs.shape[-1] - 1)


def _sample_top_p(probs: torch.Tensor, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """Nucleus sampling (Holtzman et al. 2019, arXiv 1904.09751): keep the most probable tokens until
    their mass reaches top_p (the token crossing it is kept; at least one token always is), sample
    among them in proportion to probs.  probs: (A, V), u: (A, DRAWS + 1).  Returns (A,).
    """
    draws = _inverse_cdf(probs, u[:, :-1])  # (A, D) candidates from the full distribution
    p_draw = probs.gather(1, draws)  # (A, D)
    accepted = torch.stack(
        [(probs * (probs > p_draw[:, d : d + 1])).sum(dim=-1) < top_p for d in range(draws.shape[1])], dim=1
    )  # (A, D): mass strictly more probable than the draw < top_p  <=>  the draw is in the nucleus
    tokens = draws.gather(1, accepted.int().argmax(dim=1, keepdim=True)).squeeze(1)  # (A,) first accepted
    missed = (~accepted.any(dim=1)).nonzero().squeeze(1)  # (M,)
    if missed.numel() > 0:
        tokens[missed] = _sorted_nucleus(probs[missed], top_p, u[missed, -1:])
    return tokens


def _sorted_nucleus(probs: torch.Tensor, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """The nucleus by sorting: probs (M, V), u (M, 1) -> tokens (M,).  Tries the top-k first; the same
    u and the same kept set on the top-k and full-sort paths, so the probe is exact."""
    k = min(TOPK_PROBE, probs.shape[-1])
    sorted_p, order = probs.topk(k, dim=-1)  # (A, k) descending
    cdf = sorted_p.cumsum(dim=-1)  # (A, k)
    if k < probs.shape[-1] and not bool((cdf[:, -1] >= top_p).all()):
        sorted_p, order = probs.sort(dim=-1, descending=True)  # (A, V)
        cdf = sorted_p.cumsum(dim=-1)  # (A, V)
    kept = ((cdf - sorted_p) < top_p).sum(dim=-1, keepdim=True)  # (A, 1) size of the nucleus, >= 1
    mass = cdf.gather(1, kept - 1)  # (A, 1)
    idx = torch.searchsorted(cdf, u * mass, right=True)  # (A, 1)
    idx = torch.minimum(idx, kept - 1)  # (A, 1) guards u * mass rounding up to mass
    return order.gather(1, idx).squeeze(1)
