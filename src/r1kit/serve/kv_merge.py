"""Joining and trimming running batches (rollout `DecodeState`s) for continuous batching.

Every row of a DecodeState is right-aligned at column kv_len of its cache: a row's real tokens are
the last columns, anything before them is padding masked out by `attention_mask` (0). Position ids
are per row (`positions` = real tokens so far), so padding never shifts them -- which matters for
learned absolute positions (GPT-2) as much as for RoPE.

    merged = merge_states(running, arrivals, extra)   # rows of `running`, then rows of `arrivals`
    trim_padding(merged)                              # after rows left: drop all-padding columns

Not here: paged KV (a join copies the running cache into a new slab), sliding-window layers.
Imports torch only; transformers (through rollout.kv_cache) loads on the first merge.
"""

from __future__ import annotations

import torch

from r1kit.rollout.engine import DecodeState


def merge_states(a: DecodeState, b: DecodeState, extra: int) -> DecodeState:
    """The rows of `a` then those of `b` in one state; `a` and `b` are consumed.

    kv_len L = max(La, Lb); the shorter side is left-padded (zero K/V, mask 0). The new cache has
    capacity L + extra: `extra` must cover the longest remaining generation (decode steps still to run).
    """
    from r1kit.rollout.kv_cache import concat_rows

    length = max(a.kv_len, b.kv_len)
    capacity = length + extra
    cache = concat_rows(a.cache, b.cache, capacity=capacity)
    ra, rb = a.positions.shape[0], b.positions.shape[0]
    mask = None
    if a.attention_mask is not None or b.attention_mask is not None or a.kv_len != b.kv_len:
        mask = a.positions.new_zeros(ra + rb, capacity)  # (A, C) long
        mask[:ra, length - a.kv_len : length] = 1 if a.attention_mask is None else a.attention_mask[:, : a.kv_len]
        mask[ra:, length - b.kv_len : length] = 1 if b.attention_mask is None else b.attention_mask[:, : b.kv_len]
        mask[:, length:] = 1
    next_tokens = None
    if a.next_tokens is not None and b.next_tokens is not None:
        next_tokens = torch.cat([a.next_tokens, b.next_tokens])  # (A,)
    return DecodeState(
        cache=cache,
        rows=torch.arange(ra + rb, device=a.positions.device),  # (A,)
        attention_mask=mask,
        positions=torch.cat([a.positions, b.positions]),  # (A,)
        logits=torch.cat([a.logits, b.logits]),  # (A, V)
        done=torch.cat([a.done, b.done]),  # (A,)
        kv_len=length,
        next_tokens=next_tokens,
    )


def trim_padding(state: DecodeState) -> int:
    """Drop the leading cache columns that are padding for every row (after rows left), in place.

    Keeps kv_len equal to the longest row's real length, so a long-running server's cache does not
    grow with its history. When no padding is left the mask becomes None (the unpadded fast path).
    Returns the number of columns dropped.
    """
    from r1kit.rollout.kv_cache import trim_left

    if state.attention_mask is None:
        return 0
    filled = state.attention_mask[:, : state.kv_len]  # (A, L)
    n = int((filled == 0).all(dim=0).long().cumprod(dim=0).sum())  # leading all-padding columns
    if n > 0:
        trim_left(state.cache, n)
        ones = state.attention_mask.new_ones(filled.shape[0], n)  # (A, n) the capacity freed at the end
        state.attention_mask = torch.cat([state.attention_mask[:, n:], ones], dim=1)  # (A, C)
        state.kv_len -= n
    if bool((state.attention_mask[:, : state.kv_len] != 0).all()):
        state.attention_mask = None
    return n
