"""GRPO as pure functions: tensors in, tensors out, hyper-parameters as scalars.

Imports only torch. This is where a reader checks r1kit's math against the papers:
DeepSeekMath (GRPO, arXiv 2402.03300), DeepSeek-R1 (arXiv 2501.12948), DAPO (arXiv 2503.14476),
Dr. GRPO (arXiv 2503.20783), GSPO (arXiv 2507.18071), CISPO (MiniMax-M1, arXiv 2506.13585), RLOO,
REINFORCE++ (arXiv 2501.03262); on-policy distillation (per-token reverse KL), Bradley-Terry preference
loss, and truncated importance weights for sampler/trainer mismatch (offpolicy.py).
"""

from r1kit.algo.advantages import ADVANTAGES, dr_grpo_advantages, group_advantages, zero_spread_groups
from r1kit.algo.distill import onpolicy_distill_loss, reverse_kl_advantages
from r1kit.algo.kl import k3_kl
from r1kit.algo.logprobs import token_entropy, token_logprobs
from r1kit.algo.losses import AGGREGATIONS, aggregate, clipped_surrogate, grpo_loss
from r1kit.algo.preference import bradley_terry_loss
from r1kit.algo.advantages import reinforce_pp_advantages, rloo_advantages
from r1kit.algo.policy_losses import LOSSES, cispo_loss, gspo_loss
from r1kit.algo.offpolicy import importance_weights, logp_gap

__all__ = [
    "ADVANTAGES",
    "AGGREGATIONS",
    "aggregate",
    "bradley_terry_loss",
    "clipped_surrogate",
    "dr_grpo_advantages",
    "group_advantages",
    "grpo_loss",
    "k3_kl",
    "onpolicy_distill_loss",
    "reverse_kl_advantages",
    "token_entropy",
    "token_logprobs",
    "zero_spread_groups",
    "LOSSES",
    "cispo_loss",
    "gspo_loss",
    "reinforce_pp_advantages",
    "rloo_advantages",
    "importance_weights",
    "logp_gap",
]
