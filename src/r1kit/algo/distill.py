"""On-policy distillation: the student samples, the teacher scores every sampled token, and the loss
is the per-token reverse KL(student || teacher) on the student's own samples (Agarwal et al., GKD,
arXiv 2306.13649; Gu et al., MiniLLM, arXiv 2306.08543; the per-token form as in Thinking Machines'
"On-Policy Distillation", 2025). Imports only torch.
"""

import torch
from torch import Tensor

from r1kit.algo.losses import _diagnostics, clipped_surrogate, token_mean


@torch.no_grad()
def reverse_kl_advantages(old_logp: Tensor, teacher_logp: Tensor, completion_mask: Tensor) -> Tensor:
    """Per-token advantage of on-policy distillation, the negated k1 estimate of the reverse KL.

        A_t = log pi_T(o_t | q, o_<t) - log pi_old(o_t | q, o_<t)      (= -k1_t; 0 outside the mask)

    A token the teacher finds likelier than the student did is pushed up, one it finds less likely
    pushed down. old_logp: (B, T) the student's logp of its sampled tokens (the rollout's);
    teacher_logp: (B, T) the teacher's teacher-forced logp of the same tokens; completion_mask: (B, T).
    Returns (B, T) float, without gradient.
    """
    mask = completion_mask.to(old_logp.dtype)                           # (B, T)
    return (teacher_logp.to(old_logp.dtype) - old_logp) * mask          # (B, T)


def onpolicy_distill_loss(
    logp: Tensor,
    old_logp: Tensor,
    teacher_logp: Tensor,
    completion_mask: Tensor,
    *,
    clip: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Policy-gradient surrogate whose gradient is that of the token-mean reverse KL (a loss to minimise).

        A_t     = teacher_logp_t - old_logp_t                       (reverse_kl_advantages, no gradient)
        ratio_t = exp(logp_t - old_logp_t)
        L       = -token_mean(ratio_t * A_t)                        clip=None
        L       = -token_mean(min(ratio_t A_t, clip(ratio_t, 1-clip, 1+clip) A_t))   clip=eps (PPO)

    Why the gradient is the reverse KL's: per token t, with the prefix s = (q, o_<t) fixed,
    KL_t = E_{y~pi(.|s)}[log pi(y|s) - log pi_T(y|s)], and by the score-function identity
        grad KL_t = E_y[grad log pi(y|s) (log pi(y|s) - log pi_T(y|s))] + E_y[grad log pi(y|s)],
    whose last term is 0 (sum_y grad pi(y|s) = grad 1). At theta = theta_old (ratio 1) the surrogate's
    gradient is -grad logp_t * A_t = grad log pi(o_t|s) (log pi(o_t|s) - log pi_T(o_t|s)): a one-sample
    estimate of grad KL_t. Only the sampled token's own term is used (no return-to-go over later
    tokens, i.e. discount 0), so this is the gradient of the per-token KL at each visited prefix,
    not of the sequence-level KL through the prefix distribution. The clip only matters when the
    same samples are reused after an update (ratio != 1).

    logp: (B, T) with grad; old_logp, teacher_logp, completion_mask: (B, T). Returns (loss, diag):
    reverse_kl = token_mean(old_logp - teacher_logp) (k1, unbiased, can be < 0 on a batch),
    ratio_mean, clip_frac_low / clip_frac_high (as algo.grpo_loss; 0 when clip is None).
    """
    mask = completion_mask.to(logp.dtype)                               # (B, T)
    advantages = reverse_kl_advantages(old_logp, teacher_logp, completion_mask)   # (B, T)
    if clip is None:
        ratio = torch.exp((logp - old_logp).clamp(-20.0, 20.0))         # (B, T)
        per_token = -ratio * advantages                                 # (B, T)
        clip = float("inf")                                             # diagnostics: never clipped
    else:
        per_token, ratio = clipped_surrogate(logp, old_logp, advantages, clip, clip)
    loss = token_mean(per_token, mask)
    diag = _diagnostics(ratio, advantages, None, mask, clip, clip)
    del diag["kl"]                                                      # GRPO's k3-to-reference slot
    diag["reverse_kl"] = float(token_mean(-advantages, mask))
    return loss, diag
