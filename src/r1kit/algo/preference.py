"""The Bradley–Terry preference loss of a reward model, as a pure function (imports only torch).

A reward model r(x, y) is trained on pairs (x, y_c, y_r) where a judge preferred y_c ("chosen") to
y_r ("rejected"). Bradley–Terry models P(y_c > y_r | x) = σ(r(x, y_c) − r(x, y_r)); the loss is its
negative log-likelihood (InstructGPT, arXiv 2203.02155, eq. 1). The optional margin m is Llama 2's
(arXiv 2307.09288, eq. 2): the chosen reward must beat the rejected one by m before the loss is small.
"""

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor,
                       margin: float | torch.Tensor = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean Bradley–Terry loss over a batch of preference pairs, and diagnostics.

        loss = mean_i  −log σ(r_c,i − r_r,i − m_i)        (−log σ(z) = softplus(−z), computed stably)

    chosen_rewards, rejected_rewards: (B,) scalar rewards of pair i's chosen and rejected response.
    margin: a float, or (B,) per pair; 0 is the plain Bradley–Terry loss.
    Returns (loss, diagnostics); loss is a 0-dim tensor with the inputs' gradient, the diagnostics are
    detached 0-dim tensors:
        accuracy       share of pairs with r_c > r_r (a tie counts 1/2, so an untrained constant model reads 0.5)
        reward_margin  mean of r_c − r_r
        chosen_reward, rejected_reward   the means of r_c and r_r
    """
    if chosen_rewards.shape != rejected_rewards.shape or chosen_rewards.dim() != 1:
        raise ValueError(f"chosen and rejected rewards must both be (B,), got {tuple(chosen_rewards.shape)} "
                         f"and {tuple(rejected_rewards.shape)}")
    diff = chosen_rewards.float() - rejected_rewards.float()                       # (B,)
    loss = F.softplus(-(diff - margin)).mean()
    with torch.no_grad():
        wins = (diff > 0).float() + 0.5 * (diff == 0).float()                      # (B,)
        diagnostics = {
            "accuracy": wins.mean(),
            "reward_margin": diff.mean(),
            "chosen_reward": chosen_rewards.float().mean(),
            "rejected_reward": rejected_rewards.float().mean(),
        }
    return loss, diagnostics
