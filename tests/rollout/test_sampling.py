"""sample_tokens: greedy, temperature, nucleus; recorded logp ignores the nucleus truncation."""

from __future__ import annotations

import math

import pytest
import torch

from r1kit.rollout import sampling
from r1kit.rollout.sampling import sample_tokens


def _draw(logits: torch.Tensor, temperature: float, top_p: float, draws: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return sample_tokens(logits.expand(draws, -1), temperature, top_p, g)


def test_greedy_takes_argmax_and_log_softmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    tokens, logp = sample_tokens(logits, 0.0, 0.5, None)
    assert tokens.tolist() == [1, 0]
    assert torch.allclose(logp, torch.log_softmax(logits, -1)[[0, 1], [1, 0]])


def test_top_p_samples_only_the_nucleus_but_records_full_logp():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()[None]  # (1, 4)
    tokens, logp = _draw(logits, 1.0, 0.7, 4000)  # nucleus {0, 1}: 0.5 < 0.7 <= 0.8
    counts = torch.bincount(tokens, minlength=4).float() / 4000
    assert counts[2] == 0 and counts[3] == 0
    assert abs(counts[0] - 0.5 / 0.8) < 0.03  # renormalised within the nucleus
    assert torch.allclose(logp, probs.log()[tokens], atol=1e-6)  # ... but logp is NOT renormalised


def test_top_p_always_keeps_the_top_token():
    tokens, _ = _draw(torch.tensor([[5.0, 1.0, 0.0]]), 1.0, 1e-6, 200)
    assert (tokens == 0).all()


def test_temperature_scales_distribution_and_logp():
    logits = torch.tensor([[1.0, 0.0, -1.0]])
    tokens, logp = _draw(logits, 2.0, 1.0, 6000)
    expected = torch.softmax(logits[0] / 2.0, -1)
    counts = torch.bincount(tokens, minlength=3).float() / 6000
    assert torch.allclose(counts, expected, atol=0.03)
    assert torch.allclose(logp, torch.log_softmax(logits[0] / 2.0, -1)[tokens])


def test_zero_probability_tokens_are_never_drawn():
    logits = torch.tensor([[-math.inf, 0.0, -math.inf, 0.0, -math.inf]])
    for top_p in (1.0, 0.99):
        tokens, _ = _draw(logits, 1.0, top_p, 2000)
        assert set(tokens.tolist()) <= {1, 3}


def test_topk_probe_and_full_sort_agree(monkeypatch):
    """The sorted path's top-64 probe is exact: forcing the full sort gives the same tokens for the same u."""
    torch.manual_seed(0)
    u = torch.rand(64, 1)
    peaked = torch.softmax(torch.randn(64, 1000) * 4.0, -1)  # nucleus inside the top 64 (probe)
    flat = torch.softmax(torch.randn(64, 1000) * 0.1, -1)  # nucleus of hundreds of tokens (full sort)
    for probs in (peaked, flat):
        fast = sampling._sorted_nucleus(probs, 0.9, u)
        monkeypatch.setattr(sampling, "TOPK_PROBE", 10_000)
        assert torch.equal(fast, sampling._sorted_nucleus(probs, 0.9, u))
        monkeypatch.undo()


@pytest.mark.parametrize("top_p", [0.95, 0.5])
def test_rejection_path_samples_the_exact_nucleus_distribution(top_p):
    """Accepted draws (plus the sorted fallback for rows with none) follow p restricted to the nucleus."""
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(12) * 1.5, -1)
    order = probs.argsort(descending=True)
    before = probs[order].cumsum(0) - probs[order]
    nucleus = order[before < top_p]
    expected = torch.zeros(12)
    expected[nucleus] = probs[nucleus] / probs[nucleus].sum()
    tokens, _ = _draw(probs.log()[None], 1.0, top_p, 20000, seed=3)
    freq = torch.bincount(tokens, minlength=12).float() / 20000
    assert torch.allclose(freq, expected, atol=0.015)


def test_top_logprobs_hand_computed():
    logits = torch.tensor([[1.0, 2.0, 5.0, 2.0]]).log()  # probs 0.1, 0.2, 0.5, 0.2 at T = 1
    values, ids = sampling.top_logprobs(logits, 1.0, 1)
    assert ids.tolist() == [[2]] and values.item() == pytest.approx(math.log(0.5), abs=1e-6)
    values, ids = sampling.top_logprobs(logits, 0.5, 3)  # T = 0.5: probs ∝ 1, 4, 25, 4
    assert ids[0, 0] == 2 and set(ids[0, 1:].tolist()) == {1, 3}
    assert values[0].tolist() == pytest.approx([math.log(25 / 34), math.log(4 / 34), math.log(4 / 34)], abs=1e-6)
    values, _ = sampling.top_logprobs(logits, 0.0, 1)  # greedy: the T = 1 distribution
    assert values.item() == pytest.approx(math.log(0.5), abs=1e-6)


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.3])
def test_top_logprobs_rank_the_distribution_sample_tokens_reports(temperature):
    """The alternatives come from log_softmax(logits / T) before top-p, the distribution of the sampled logp:
    where the sampled token ranks in the top k, its value there is exactly its logp."""
    torch.manual_seed(0)
    logits = torch.randn(64, 40) * 3
    tokens, logp = sample_tokens(logits, temperature, 0.8, torch.Generator().manual_seed(1))
    values, ids = sampling.top_logprobs(logits, temperature, 5)  # (64, 5)
    ref = torch.log_softmax(logits / (temperature or 1.0), -1)
    assert (values[:, :-1] >= values[:, 1:]).all() and torch.equal(values, ref.gather(1, ids))
    assert torch.allclose(values, ref.topk(5, dim=-1).values)
    hits = ids == tokens[:, None]  # (64, 5)
    assert hits.any(dim=1).sum() >= 32  # most draws rank in the top 5 of 40
    assert torch.equal(values[hits], logp[hits.any(dim=1)])
