"""Batch bookkeeping for a rollout: sharing and left-padding prompts, and the output buffers.

Rows are laid out once, up front: row b = sample (b % n) of prompt (b // n). Decoding may drop
finished rows from the active batch at any time; the buffers here are indexed by the original row,
so results land in place whatever the active batch looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from r1kit.rollout.types import Rollout


def share_prompts(prompts: list[list[int]], n: int, share: bool = True) -> tuple[list[list[int]], torch.Tensor]:
    """Unique prompts and, per output row, the index of its unique prompt.

    With share=True identical prompts (and the n samples of each) map to one prefill row; with
    share=False every output row is its own prefill row.  Returns (unique, expand (B,) long).
    """
    rows = [i for i in range(len(prompts)) for _ in range(n)]  # B = P * n
    if not share:
        return [prompts[i] for i in rows], torch.arange(len(rows))  # (B,)
    first: dict[tuple[int, ...], int] = {}
    unique: list[list[int]] = []
    for ids in prompts:
        if tuple(ids) not in first:
            first[tuple(ids)] = len(unique)
            unique.append(list(ids))
    return unique, torch.tensor([first[tuple(prompts[i])] for i in rows], dtype=torch.long)  # (B,)


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns ids (R, L) left-padded with pad_id and mask (R, L), 1 = real token."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (R, L)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (R, L)
    for r, s in enumerate(seqs):
        if s:
            ids[r, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[r, width - len(s) :] = 1
    return ids, mask


@dataclass
class Outputs:
    """Completions being written, indexed by original row; one column per decoding step."""

    ids: torch.Tensor  # (B, N) pad where nothing was generated
    logp: torch.Tensor  # (B, N) float32, 0 where nothing was generated
    end: torch.Tensor  # (B,) long: completion length (N until the row stops)
    stopped: torch.Tensor  # (B,) bool: ended by eos / stop string
    pad_id: int

    @classmethod
    def empty(cls, rows: int, steps: int, pad_id: int, device: torch.device) -> Outputs:
        return cls(
            ids=torch.full((rows, steps), pad_id, dtype=torch.long, device=device),  # (B, N)
            logp=torch.zeros((rows, steps), dtype=torch.float32, device=device),  # (B, N)
            end=torch.full((rows,), steps, dtype=torch.long, device=device),  # (B,)
            stopped=torch.zeros(rows, dtype=torch.bool, device=device),  # (B,)
            pad_id=pad_id,
        )

    def record(self, rows: torch.Tensor, t: int, tokens: torch.Tensor, logp: torch.Tensor, alive: torch.Tensor):
        """Write step t for active rows (A,); rows already finished (alive False) write nothing."""
        self.ids[rows, t] = torch.where(alive, tokens, self.pad_id)
        self.logp[rows, t] = torch.where(alive, logp, 0.0)

    def finish(self, rows: torch.Tensor, hit: torch.Tensor, t: int) -> None:
        """Rows (A,) with hit = True ended at step t (their token t is kept)."""
        self.end[rows] = torch.where(hit, t + 1, self.end[rows])
        self.stopped[rows] = self.stopped[rows] | hit

    def to_rollout(self, prompt_ids, prompt_mask, prompt_index: list[int], tokenizer, strip_ids) -> Rollout:
        width = int(self.end.max())
        completion_mask = (torch.arange(width, device=self.end.device) < self.end[:, None]).long()  # (B, Lc)
        ends = self.end.tolist()
        rows = [r[:e] for r, e in zip(self.ids[:, :width].tolist(), ends)]
        texts = tokenizer.batch_decode(rows, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        strip = [tokenizer.decode([i], skip_special_tokens=False) for i in strip_ids]
        for s in filter(None, strip):
            texts = [t.replace(s, "") for t in texts]
        return Rollout(
            prompt_ids=prompt_ids,
            prompt_mask=prompt_mask,
            completion_ids=self.ids[:, :width].contiguous(),
            completion_mask=completion_mask,
            logp=self.logp[:, :width].contiguous(),
            texts=texts,
            finish_reasons=["stop" if s else "length" for s in self.stopped.tolist()],
            prompt_index=prompt_index,
        )
