"""Group-relative advantages: one scalar per completion, shared by all its tokens."""

import torch
from torch import Tensor


def _groups(rewards: Tensor, group_size: int) -> Tensor:
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for a group-relative baseline, got {group_size}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be (P*G,), got {tuple(rewards.shape)} with G={group_size}")
    return rewards.view(-1, group_size)                                  # (P, G)


def group_advantages(rewards: Tensor, group_size: int, eps: float = 1e-4) -> Tensor:
    """GRPO advantage (DeepSeekMath §4.1.2; DeepSeek-R1 eq. 3).

        A_i = (r_i - mean_g(r)) / (std_g(r) + eps)

    std is the *population* std (divide by G, `correction=0`), eps added outside the sqrt.
    rewards: (B,) with B = P * G, each prompt's G completions contiguous. Returns (B,) float32.
    A group whose rewards are all equal gets A = 0: it carries no learning signal.
    """
    r = _groups(rewards.float(), group_size)                             # (P, G)
    centred = r - r.mean(dim=1, keepdim=True)
    return (centred / (r.std(dim=1, keepdim=True, correction=0) + eps)).reshape(-1)


def dr_grpo_advantages(rewards: Tensor, group_size: int, eps: float = 0.0) -> Tensor:
    """Dr. GRPO advantage (arXiv 2503.20783 §3.1): the group mean baseline without the std.

        A_i = r_i - mean_g(r)

    Dividing by the std up-weights groups that are nearly all right or all wrong (a question-level
    difficulty bias); this variant removes it. `eps` is unused; kept for a uniform signature.
    rewards: (B,) with B = P * G, groups contiguous. Returns (B,) float32.
    """
    r = _groups(rewards.float(), group_size)                             # (P, G)
    return (r - r.mean(dim=1, keepdim=True)).reshape(-1)


def zero_spread_groups(rewards: Tensor, group_size: int) -> Tensor:
    """Mask of groups whose rewards are all equal (max == min). rewards: (B,). Returns (P,) bool.

    DAPO's dynamic sampling (arXiv 2503.14476 §3.2) drops these groups: their advantage is 0.
    """
    r = _groups(rewards.float(), group_size)                             # (P, G)
    return r.max(dim=1).values == r.min(dim=1).values


def rloo_advantages(rewards: Tensor, group_size: int, eps: float = 0.0) -> Tensor:
    """RLOO advantage (REINFORCE leave-one-out): each sample's baseline is the mean of the other G - 1.

        A_i = r_i - 1/(G-1) sum_{j != i} r_j  =  G/(G-1) * (r_i - mean_g(r))

    An unbiased baseline (it does not depend on r_i); no std scaling. `eps` is unused; kept for a
    uniform signature. rewards: (B,) with B = P * G, groups contiguous. Returns (B,) float32.
    """
    r = _groups(rewards.float(), group_size)                             # (P, G)
    others = (r.sum(dim=1, keepdim=True) - r) / (group_size - 1)         # (P, G) mean of the other G-1
    return (r - others).reshape(-1)


def reinforce_pp_advantages(rewards: Tensor, group_size: int, eps: float = 1e-4) -> Tensor:
    """REINFORCE++-baseline advantage (arXiv 2501.03262): group mean baseline, batch-level scale.

        c_i = r_i - mean_g(r)                 (the group's mean, as GRPO)
        A_i = c_i / (std_B(c) + eps)          std over all B centred values, population (divide by B)

    Unlike GRPO the scale is shared by the whole batch, not per group, so a group whose rewards
    barely differ is not blown up to unit scale. mean_B(c) = 0 already, so this is the batch
    whitening step. The paper's per-token KL folded into the reward is not done here: r1kit keeps
    KL as the loss's beta term. rewards: (B,), groups contiguous. Returns (B,) float32.
    """
    r = _groups(rewards.float(), group_size)                             # (P, G)
    centred = (r - r.mean(dim=1, keepdim=True)).reshape(-1)             # (B,)
    return centred / (centred.std(correction=0) + eps)


ADVANTAGES = {"grpo": group_advantages, "dr_grpo": dr_grpo_advantages, "rloo": rloo_advantages,
              "reinforce_pp": reinforce_pp_advantages}
