"""SlabLayer cache: same attention results as transformers' DynamicCache; row selection copies right."""

from __future__ import annotations

import pytest
import torch
from transformers.cache_utils import DynamicCache

from r1kit.rollout.kv_cache import SlabLayer, new_cache, select_rows


def _run(model, cache, ids):
    """Prefill ids (R, L), then feed 3 greedy tokens one at a time; returns the 4 logit rows (R, 4, V)."""
    steps = []
    with torch.no_grad():
        logits = model(input_ids=ids, cache=cache, use_cache=True).logits[:, -1]
        for _ in range(3):
            steps.append(logits)
            logits = model(input_ids=logits.argmax(-1, keepdim=True), cache=cache, use_cache=True).logits[:, -1]
    return torch.stack(steps + [logits], dim=1)


@pytest.mark.parametrize("arch", ["qwen2", "deepseek_v3"])
def test_slab_cache_matches_dynamic_cache(arch, request):
    model = request.getfixturevalue(arch)
    ids = torch.randint(5, 300, (3, 9), generator=torch.Generator().manual_seed(0))
    slab = new_cache(model, capacity=9 + 4)
    assert all(isinstance(layer, SlabLayer) for layer in slab.layers)
    assert torch.allclose(_run(model, slab, ids), _run(model, DynamicCache(config=model.config), ids), atol=1e-5)
    assert slab.get_seq_length() == 12


def test_select_rows_repeats_and_drops(qwen2):
    ids = torch.randint(5, 300, (2, 6), generator=torch.Generator().manual_seed(1))
    cache = new_cache(qwen2, capacity=10)
    with torch.no_grad():
        qwen2(input_ids=ids, cache=cache, use_cache=True)
    keys = cache.layers[0].keys.clone()  # (2, H, 6, D)
    select_rows(cache, torch.tensor([1, 1, 0]))
    assert torch.equal(cache.layers[0].keys, keys[[1, 1, 0]])
    select_rows(cache, torch.tensor([2]))
    assert torch.equal(cache.layers[0].keys, keys[[0]]) and cache.get_seq_length() == 6


def test_overflow_raises():
    layer = SlabLayer(capacity=2)
    layer.update(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4))
    with pytest.raises(RuntimeError):
        layer.update(torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 1, 4))
