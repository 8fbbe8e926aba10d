"""The policy update GRPO and on-policy distillation share: a rollout batch, teacher-forced logprobs of its
completions, and one optimizer step accumulated over micro-batches (exact across micro-batch sizes and,
under torchrun, across processes: r1kit.train.dist)."""

from dataclasses import dataclass

import torch

from r1kit.train.dist import Dist
from r1kit.train.forward import completion_logprobs


@dataclass
class Batch:
    """One rollout batch on the training device. B = P * G rows, each prompt's G rows contiguous."""
    prompt_ids: torch.Tensor        # (B, Lp)
    prompt_mask: torch.Tensor       # (B, Lp)
    completion_ids: torch.Tensor    # (B, Lc)
    completion_mask: torch.Tensor   # (B, Lc)
    old_logp: torch.Tensor          # (B, Lc)
    advantages: torch.Tensor        # (B,), or (B, Lc) per token (on-policy distillation)
    ref_logp: torch.Tensor | None   # (B, Lc)
    sampler_logp: torch.Tensor | None = None  # (B, Lc) the sampler's logp when old_logp was recomputed
    is_weights: torch.Tensor | None = None    # (B, Lc) TIS weights pi_old / pi_sampler (grpo.tis_cap > 0)

    def rows(self, idx: torch.Tensor) -> "Batch":
        pick = lambda t: None if t is None else t[idx]
        return Batch(*(pick(getattr(self, f)) for f in self.__dataclass_fields__))


def accumulate_update(model, batch: Batch, cfg, opt, loss_of, by_tokens: bool, dist: Dist | None = None,
                      train_rows: torch.Tensor | None = None) -> dict[str, float]:
    """One optimizer step on `batch`, accumulating gradients over micro-batches of optim.micro_batch_size rows.

    loss_of(mb, idx, logp) -> (loss, diag) is the micro-batch's loss (idx: its rows in `batch`; logp: (b, Lc)
    with grad at rollout.temperature). Each micro-batch's loss is weighted by its share of the step's
    normaliser, completion tokens when `by_tokens`, else sequences, so accumulation gives exactly the
    full-batch loss. Under torchrun (`dist`, r1kit.train.dist) `batch` is this rank's block: the normaliser
    counts every rank's rows, gradients are averaged over ranks (loss x world_size), so the step equals one
    process's on the global batch; an fsdp2 rank short of micro-batches runs zero-weight ones (forwards are
    collectives). Returns the share-weighted diagnostics summed over ranks, plus entropy, loss and grad_norm.

    train_rows (B,) bool: only these rows run forward and backward; the others still count in the normaliser
    (ignored under fsdp2, where every rank must run the same forwards).
    For rows whose loss has no gradient (zero advantage with beta = 0) the step is exactly the full one; the
    diagnostics other than loss are then means over the trained rows, and skipped_frac says how many were not.
    When no row trains, the gradients are zeros, so the optimizer still steps (AdamW's moments decay).
    """
    from r1kit.train.dist import sync_grads
    from r1kit.train.lean_forward import compute_dtype, mixed_forward

    dist = dist or Dist()
    weights, autocast = mixed_forward(model, compute_dtype(getattr(cfg, "parallel", None), model), grad=True)
    train_rows = None if dist.sharded else train_rows  # fsdp2: every rank runs every forward (collectives)
    B = batch.completion_ids.shape[0]
    micro = cfg.optim.micro_batch_size or max(B, 1)
    trained = B if train_rows is None else int(train_rows.sum())
    counts = torch.tensor([float(batch.completion_mask.sum()), float(B)], dtype=torch.float64,
                          device=batch.completion_mask.device)
    total_tokens, total_rows = dist.sum(counts).clamp(min=1).tolist()                   # over all ranks
    if train_rows is not None:  # the normaliser above counted every row; only these run
        batch = batch.rows(train_rows.nonzero().squeeze(1))
        B = batch.completion_ids.shape[0]
    n_micro = -(-B // micro)
    n_micro = dist.max_int(n_micro) if dist.sharded else n_micro
    stats: dict[str, float] = {}
    opt.zero_grad(set_to_none=True)
    for k in range(n_micro):
        start = min(k * micro, max(B - 1, 0) // micro * micro)  # past this rank's rows: its last micro-batch again
        idx = torch.arange(start, min(start + micro, B))
        mb = batch.rows(idx)
        with autocast():
            logp, entropy = completion_logprobs(model, mb.prompt_ids, mb.prompt_mask, mb.completion_ids,
                                                mb.completion_mask, cfg.rollout.temperature, with_entropy=True,
                                                weights=weights)
        loss, diag = loss_of(mb, idx, logp)
        share = float(mb.completion_mask.sum()) / total_tokens if by_tokens else mb.completion_mask.shape[0] / total_rows
        share *= float(k * micro < B)  # a padding micro-batch weighs nothing
        (loss * (share * dist.loss_scale)).backward()
        m = mb.completion_mask.float()
        diag["entropy"] = float((entropy * m).sum() / m.sum().clamp(min=1))
        diag["loss"] = loss.item()
        diag["_covered"] = 1.0
        for name, v in diag.items():
            stats[name] = stats.get(name, 0.0) + float(v) * share
    if weights is not None:
        weights.scatter_grads()  # the bf16 copies' fp32-accumulated gradients onto the master weights
    if B == 0:  # nothing trained: zero gradients, so the optimizer step is the full batch's
        for p in model.parameters():
            if p.requires_grad and p.grad is None:
                p.grad = torch.zeros_like(p)
    sync_grads(model, dist)
    if dist.active:  # the shares are global: the ranks' weighted diagnostics add up to the global ones
        parts = dist.gather(stats)
        stats = {name: sum(p.get(name, 0.0) for p in parts) for name in {n for p in parts for n in p}}
    covered = stats.pop("_covered", 0.0)  # the trained rows' summed share (1 when every row trained)
    if train_rows is not None:  # means over the rows that ran; loss stays: the skipped rows' loss is exactly 0
        stats = {name: v if name == "loss" or covered <= 0 else v / covered for name, v in stats.items()}
        ran = float(dist.sum(torch.tensor([float(trained)], dtype=torch.float64))[0])
        stats["skipped_frac"] = 1.0 - ran / total_rows
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
    stats["grad_norm"] = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
    opt.step()
    return stats


@torch.no_grad()
def teacher_forced_logp(model, batch: Batch, cfg) -> torch.Tensor:
    """logp (B, Lc) of the batch's completions under `model` (reference or the pre-update policy), 0 where
    masked, in micro-batches of cfg.optim.micro_batch_size rows at cfg.rollout.temperature (in bf16 under
    parallel.mixed_precision, as the update computes)."""
    from r1kit.train.lean_forward import compute_dtype, mixed_forward

    micro = cfg.optim.micro_batch_size or max(batch.completion_ids.shape[0], 1)
    weights, autocast = mixed_forward(model, compute_dtype(getattr(cfg, "parallel", None), model), grad=False)
    parts = []
    for start in range(0, batch.completion_ids.shape[0], micro):
        mb = batch.rows(torch.arange(start, min(start + micro, batch.completion_ids.shape[0])))
        with autocast():
            logp, _ = completion_logprobs(model, mb.prompt_ids, mb.prompt_mask, mb.completion_ids,
                                          mb.completion_mask, cfg.rollout.temperature, weights=weights)
        parts.append(logp)
    if not parts:  # a rank whose groups dynamic sampling all dropped
        return torch.zeros(batch.completion_mask.shape, device=batch.completion_mask.device)
    return torch.cat(parts) * batch.completion_mask                                       # (B, Lc)
