"""Supervised fine-tuning on (prompt, completion) pairs, loss on the completion tokens only.

Used to pretrain the demo's tiny base model (pipeline/base_model.py) in the prompt template the demo
trains with. Chat data (the R1 recipe's cold start and distillation, `r1kit train sft`) goes through
train/sft_run.py instead: conversations, assistant-only loss, packing, checkpoints and resume.
Batches group examples of similar length (padding to the longest example of a random batch doubled
the time in the prototype), and the prompt prefix a batch shares (the R1-Zero template) is computed
once per batch (train/forward.py). Save the result with
`r1kit.models.save_model(model, tokenizer, out, template=...)`, naming the template the pairs were
rendered with, so the checkpoint carries its prompt form as its chat template.
"""

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from r1kit.train.forward import common_prefix_len, prefix_shared_logits
from r1kit.train.optim import make_optimizer


@dataclass
class SFTConfig:
    steps: int = 800
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 20
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    group_by_length: bool = True
    """Batch examples of similar length (less padding); False draws batches uniformly at random."""


def tokenize_pairs(tokenizer, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids + eos) per pair; prompt and completion are tokenized apart,
    exactly as the rollout engine sees a prompt and then generates a completion."""
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    completions = tokenizer([c for _, c in pairs], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p, c + [eos]) for p, c in zip(prompts, completions)]


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random, pool: int = 32) -> list[list[int]]:
    """Shuffle, sort within pools of `pool` batches by length, cut into batches, shuffle batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (-100 on prompt and padding)."""
    width = max(len(p) + len(c) for p, c in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)       # (B, L)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)      # (B, L)
    mask = torch.zeros((len(examples), width), dtype=torch.long)             # (B, L)
    for i, (p, c) in enumerate(examples):
        seq = p + c
        ids[i, :len(seq)] = torch.tensor(seq)
        labels[i, len(p):len(seq)] = torch.tensor(c)
        mask[i, :len(seq)] = 1
    return ids, mask, labels


def sft_train(model, tokenizer, pairs: list[tuple[str, str]], cfg: SFTConfig, on_step=None) -> list[float]:
    """Train `model` in place for cfg.steps optimizer steps; returns the loss per step.

    Loss = summed cross-entropy over the batch's completion tokens / (batch size x the dataset's
    mean completion length): a fixed normaliser, so every token weighs the same in every batch.
    (A per-batch token mean would not: length-grouped batches of short direct answers would
    outweigh batches of long worked solutions token for token, and the model would learn to
    reason far less often than its data does.) `on_step(step, loss)` is called after each step.
    """
    data = tokenize_pairs(tokenizer, pairs)
    lengths = [len(p) + len(c) for p, c in data]
    mean_len = sum(len(c) for _, c in data) / len(data)
    rng = random.Random(cfg.seed)
    device = next(model.parameters()).device
    opt, sched = make_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95),
                                total_steps=cfg.steps, warmup_steps=cfg.warmup_steps,
                                schedule=cfg.schedule, min_ratio=cfg.min_lr_ratio,
                                fused=False)  # bitwise what earlier versions built (train.optim)
    model.train()
    losses, queue = [], []
    for step in range(cfg.steps):
        if not queue:
            queue = length_grouped_batches(lengths, cfg.batch_size, rng, pool=32 if cfg.group_by_length else 1)
        batch = [data[i] for i in queue.pop()]
        ids, mask, labels = (t.to(device) for t in collate(batch, tokenizer.pad_token_id))
        limit = min(len(p) for p, _ in batch) - 1
        shared = common_prefix_len([p[:limit] for p, _ in batch], limit)
        logits = prefix_shared_logits(model, ids, mask, shared, keep=ids.shape[1] - shared)  # (B, L - shared, V)
        nll = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, shared + 1:].flatten(),
                              ignore_index=-100, reduction="sum")
        loss = nll / (len(batch) * mean_len)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
