"""Teacher-forced forward passes over sequences that share a prompt prefix.

Every R1-Zero prompt starts with the same ~80-token template, and GRPO's G samples share the
whole prompt. Running that prefix once (batch 1, with gradient) and attending to its KV cache
from every row cuts the tokens per training step ~3x at toy scale; gradients flow back through
the cache into the prefix's computation, so the loss and its gradient equal the plain forward's.

The contract, tested in tests/train/test_forward.py for qwen2, gpt2 and deepseek_v3 to 1e-5 (fp32):
completion_logprobs(...)[b, t] = log_softmax(model(p_b + c_b).logits / T)[|p_b| - 1 + t, c_b[t]], where
p_b, c_b are row b's real prompt and completion tokens run alone, unpadded. GRPO logs how far the
sampler's logp is from it (logp_agreement) at step 0, and every step with recompute_old_logp.
"""

import inspect

import torch
import torch.nn.functional as F
from torch import Tensor

from r1kit.algo import token_entropy, token_logprobs
from r1kit.train.dist import is_sharded

MIN_SHARED_PREFIX = 8
"""Below this many shared tokens the plain forward is used."""


def cache_kwarg(model) -> str:
    """transformers >= 5.24 names the KV-cache argument `cache`; earlier releases `past_key_values`."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def common_prefix_len(rows: list[list[int]], limit: int) -> int:
    """Length of the longest common prefix of `rows`, at most `limit`."""
    first, n = rows[0], limit
    for row in rows[1:]:
        k = 0
        while k < n and row[k] == first[k]:
            k += 1
        n = k
    return n


def prefix_shared_logits(model, input_ids: Tensor, attention_mask: Tensor, prefix_len: int, keep: int) -> Tensor:
    """Logits of the last `keep` positions of right-padded rows whose first `prefix_len` tokens agree.

    input_ids, attention_mask: (B, L), each row's real tokens first (right padding); all rows share
    input_ids[:, :prefix_len]. keep <= L - prefix_len. Returns (B, keep, V), equal to
    model(input_ids, attention_mask).logits[:, -keep:] up to float rounding.
    """
    B, L = input_ids.shape
    if prefix_len < MIN_SHARED_PREFIX or B == 1:
        out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False)
        return out.logits
    name = cache_kwarg(model)
    prefix = model(input_ids=input_ids[:1, :prefix_len], use_cache=True)
    cache = getattr(prefix, name, None) or prefix.past_key_values
    cache.batch_repeat_interleave(B)
    S = L - prefix_len
    mask = torch.cat([torch.ones_like(attention_mask[:, :prefix_len]), attention_mask[:, prefix_len:]], 1)  # (B, L)
    pos = (prefix_len + torch.arange(S, device=input_ids.device)).unsqueeze(0).expand(B, S)              # (B, S)
    out = model(input_ids=input_ids[:, prefix_len:], attention_mask=mask, position_ids=pos,
                logits_to_keep=keep, use_cache=True, **{name: cache})
    return out.logits


def completion_logprobs(model, prompt_ids: Tensor, prompt_mask: Tensor, completion_ids: Tensor,
                        completion_mask: Tensor, temperature: float, with_entropy: bool = False,
                        weights=None) -> tuple[Tensor, Tensor | None]:
    """log pi(o_t | q, o_<t) at temperature T for every completion token, teacher-forced.

    prompt_ids/prompt_mask: (B, Lp) left-padded (as the rollout returns them);
    completion_ids/completion_mask: (B, Lc) right-padded. Returns logp (B, Lc) float32 (values at
    masked positions are meaningless; callers mask them) and, if asked, the policy entropy (B, Lc)
    without gradient. Rows are re-packed prompt-first with right padding so the shared template
    prefix is computed once (prefix_shared_logits). weights: a train.lean_forward.LeanWeights of `model`
    (mixed precision): the logits come from lean_logits over it instead of the model's own forward.
    Columns that are padding in every row are not computed (`used_columns`): a micro-batch of short answers
    costs its own length, not the longest of the step; logp and entropy are 0 there.
    """
    first, last = used_columns(prompt_mask, completion_mask)
    logp, entropy = _used_logprobs(model, prompt_ids[:, first:], prompt_mask[:, first:], completion_ids[:, :last],
                                   completion_mask[:, :last], temperature, with_entropy, weights)
    pad = (0, completion_ids.shape[1] - last)
    if pad[1]:
        logp, entropy = F.pad(logp, pad), None if entropy is None else F.pad(entropy, pad)
    return logp, entropy


def _used_logprobs(model, prompt_ids: Tensor, prompt_mask: Tensor, completion_ids: Tensor, completion_mask: Tensor,
                   temperature: float, with_entropy: bool, weights) -> tuple[Tensor, Tensor | None]:
    """completion_logprobs on rows whose every column is used by some row (`used_columns` already applied)."""
    B, Lp = prompt_ids.shape
    Lc = completion_ids.shape[1]
    plen = prompt_mask.long().sum(1)                                                  # (B,)
    shift = Lp - plen                                                                 # left pads per row
    cols = (torch.arange(Lp + Lc, device=prompt_ids.device).unsqueeze(0) + shift.unsqueeze(1)).clamp(max=Lp + Lc - 1)
    ids = torch.cat([prompt_ids, completion_ids], 1).gather(1, cols)                  # (B, Lp+Lc) packed left
    mask = torch.cat([prompt_mask.long(), completion_mask.long()], 1).gather(1, cols)
    mask = mask * (torch.arange(Lp + Lc, device=ids.device).unsqueeze(0) < (plen + Lc).unsqueeze(1))
    min_plen = int(plen.min())
    keep = Lp + Lc - (min_plen - 1)                                                   # from the first row's last prompt token
    rows = ids[:, :min_plen - 1].tolist()
    # fsdp2: every forward is a collective, and ranks' rows differ: one plain forward each, on every rank
    prefix_len = common_prefix_len(rows, min_plen - 1) if B > 1 and not is_sharded(model) else 0
    if weights is not None:
        from r1kit.train.lean_forward import lean_logits

        shared = prefix_len if prefix_len >= MIN_SHARED_PREFIX and B > 1 else 0
        logits = lean_logits(weights, ids, shared, keep)                              # (B, keep, V)
    else:
        logits = prefix_shared_logits(model, ids, mask, prefix_len, keep)             # (B, keep, V)
    start = (plen - min_plen).unsqueeze(1) + torch.arange(Lc, device=ids.device).unsqueeze(0)   # (B, Lc)
    logits = logits.gather(1, start.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))   # (B, Lc, V): predicts o_t
    logp = token_logprobs(logits, completion_ids, temperature)                        # (B, Lc)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = token_entropy(logits.detach(), temperature)                     # (B, Lc)
    return logp, entropy


def used_columns(prompt_mask: Tensor, completion_mask: Tensor) -> tuple[int, int]:
    """(first, last): prompt columns before `first` (left padding) and completion columns from `last` (right
    padding) are padding in every row; at least one completion column is kept. Masks (B, Lp), (B, Lc)."""
    p = prompt_mask.bool().any(0).nonzero()                                            # (k, 1) used columns
    c = completion_mask.bool().any(0).nonzero()
    first = int(p[0, 0]) if p.numel() else 0
    last = int(c[-1, 0]) + 1 if c.numel() else min(1, completion_mask.shape[1])
    return first, last


def logp_agreement(rollout_logp: Tensor, forward_logp: Tensor, completion_mask: Tensor) -> dict[str, float]:
    """How far the sampler's logp is from the teacher-forced logp of the same tokens (issue 9).

        logp_gap/max             = max_t |logp_rollout - logp_forward|      over completion tokens
        ratio/rollout_vs_forward = mean_t exp(logp_forward - logp_rollout)  (the step-0 PPO ratio)

    Both are log_softmax(logits / T) of the same policy, so on-policy the gap is float rounding
    (~1e-6 in fp32) and the ratio 1; anything more means the loss trains on other logprobs than
    the ones that were sampled. All (B, Lc); masked positions are ignored.
    """
    m = completion_mask.bool()
    diff = forward_logp.detach().float()[m] - rollout_logp.float()[m]                 # (N,)
    if diff.numel() == 0:
        return {}
    return {"logp_gap/max": diff.abs().max().item(), "ratio/rollout_vs_forward": diff.exp().mean().item()}
