"""A KV cache for sampling: transformers' DynamicCache with preallocated ("slab") full-attention layers.

DynamicLayer grows by torch.cat, copying the whole cache every step (O(L) per token). A SlabLayer
allocates (rows, heads, capacity, dim) once and writes each new token in place; attention reads
a view of the filled part. Row selection (prompt sharing, dropping finished rows) copies only the
filled part. Layers of other kinds (sliding window, linear attention) stay as transformers made them;
they support the same `batch_select_indices`. Imports transformers: load lazily.
"""

from __future__ import annotations

import functools

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


class SlabLayer(DynamicLayer):
    """A full-attention cache layer with room for `capacity` positions; keys (R, H, L, Dk), values (R, H, L, Dv)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._k: torch.Tensor | None = None  # (R, H, capacity, Dk)
        self._v: torch.Tensor | None = None  # (R, H, capacity, Dv)

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            r, h, _, _ = key_states.shape
            self._k = key_states.new_empty(r, h, self.capacity, key_states.shape[-1])  # (R, H, C, Dk)
            self._v = value_states.new_empty(r, value_states.shape[1], self.capacity, value_states.shape[-1])
        n = key_states.shape[-2]
        if self.length + n > self.capacity:
            raise RuntimeError(f"SlabLayer overflow: {self.length} + {n} > capacity {self.capacity}")
        self._k[:, :, self.length : self.length + n] = key_states
        self._v[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._refresh_views()
        return self.keys, self.values

    def _refresh_views(self) -> None:
        self.keys = self._k[:, :, : self.length]  # (R, H, L, Dk) view
        self.values = self._v[:, :, : self.length]  # (R, H, L, Dv) view

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows `indices` (in that order, repeats allowed): copies only the filled positions."""
        if self._k is None:
            return
        self._k = _select_filled(self._k, indices, self.length)
        self._v = _select_filled(self._v, indices, self.length)
        self._refresh_views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self._k is not None:
            idx = torch.arange(self._k.shape[0], device=self._k.device).repeat_interleave(repeats)  # (R * repeats,)
            self.batch_select_indices(idx)

    def reset(self) -> None:
        self._k = self._v = None
        self.length = 0
        super().reset()

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("SlabLayer does not support crop")


def _select_filled(buf: torch.Tensor, indices: torch.Tensor, length: int) -> torch.Tensor:
    out = buf.new_empty(indices.shape[0], *buf.shape[1:])  # (R', H, C, D)
    out[:, :, :length] = buf[indices, :, :length]
    return out


def new_cache(model, capacity: int) -> DynamicCache:
    """A DynamicCache for `model` whose plain full-attention layers are SlabLayers of `capacity` positions."""
    cache = DynamicCache(config=model.config)
    if not cache.layers:  # no config-driven layout: transformers creates layers lazily, one per update
        cache.layer_class_to_replicate = functools.partial(SlabLayer, capacity)
    cache.layers = [SlabLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def select_rows(cache, indices: torch.Tensor) -> None:
    """Keep rows `indices` of every cache layer, in place (repeats allowed: that is how a prompt is shared)."""
    cache.batch_select_indices(indices)


# ---- continuous batching: joining and trimming caches (r1kit.serve.batcher) ----
def concat_rows(a, b, capacity: int | None = None):
    """Rows of cache `a` then the rows of cache `b`, written into `a` (returned).

    The two may hold different lengths La, Lb: both are right-aligned at L = max(La, Lb), the shorter
    one left-padded with zero K/V columns that the caller masks out (attention mask 0), exactly like a
    left-padded prompt. Zeros, not uninitialised memory: a masked column still meets the matmuls, and
    nan * 0 = nan. Per layer: a SlabLayer on either side gives a new SlabLayer of `capacity` positions
    (default: the larger slab capacity; must be >= L); two plain DynamicLayers give a DynamicLayer. Other
    layer kinds (sliding window, linear attention) raise NotImplementedError.
    """
    if len(a.layers) != len(b.layers):
        raise ValueError(f"caches have {len(a.layers)} and {len(b.layers)} layers")
    a.layers = [_concat_layer(la, lb, capacity) for la, lb in zip(a.layers, b.layers)]
    return a


def trim_left(cache, n: int) -> None:
    """Drop the first `n` positions of every layer, in place (columns that are padding for every row).
    A SlabLayer keeps its capacity, so the freed room is available at the end."""
    if n <= 0:
        return
    for layer in cache.layers:
        _check_kind(layer)
        if isinstance(layer, SlabLayer):
            length = layer.length - n
            layer._k = _right_aligned([layer.keys[:, :, n:]], length, layer.capacity)
            layer._v = _right_aligned([layer.values[:, :, n:]], length, layer.capacity)
            layer.length = length
            layer._refresh_views()
        elif layer.is_initialized:
            layer.keys, layer.values = layer.keys[:, :, n:], layer.values[:, :, n:]


def _check_kind(layer) -> None:
    if not isinstance(layer, SlabLayer) and type(layer) is not DynamicLayer:
        raise NotImplementedError(f"cannot join or trim a {type(layer).__name__} cache layer")


def _concat_layer(la, lb, capacity: int | None):
    _check_kind(la)
    _check_kind(lb)
    length = max(la.get_seq_length(), lb.get_seq_length())
    slabs = [layer.capacity for layer in (la, lb) if isinstance(layer, SlabLayer)]
    if not slabs:
        out = DynamicLayer()
        out.lazy_initialization(la.keys, la.values)
        out.keys = _right_aligned([la.keys, lb.keys], length, length)
        out.values = _right_aligned([la.values, lb.values], length, length)
        return out
    cap = max(slabs) if capacity is None else capacity
    if cap < length:
        raise ValueError(f"capacity {cap} < cache length {length}")
    out = SlabLayer(cap)
    out.lazy_initialization(la.keys, la.values)
    out._k = _right_aligned([la.keys, lb.keys], length, cap)
    out._v = _right_aligned([la.values, lb.values], length, cap)
    out.length = length
    out._refresh_views()
    return out


def _right_aligned(parts: list[torch.Tensor], length: int, capacity: int) -> torch.Tensor:
    """Stack parts (R_i, H, L_i, D) along rows into (sum R_i, H, capacity, D), each part ending at
    column `length`, zeros before it; columns >= length are left unwritten (slab room)."""
    first = parts[0]
    out = first.new_empty(sum(p.shape[0] for p in parts), first.shape[1], capacity, first.shape[-1])
    row = 0
    for p in parts:
        pad = length - p.shape[-2]
        out[row : row + p.shape[0], :, :pad] = 0
        out[row : row + p.shape[0], :, pad:length] = p
        row += p.shape[0]
    return out
