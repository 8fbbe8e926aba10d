"""RolloutEngine against the contract and against an uncached teacher-forced forward."""

from __future__ import annotations

import pytest
import torch

from r1kit.errors import R1kitError
from r1kit.rollout import Rollout, RolloutEngine, SamplingParams

MODELS = ["qwen2", "llama", "deepseek_v3"]


def test_contract_shapes_masks_padding(qwen2, tokenizer, prompts):
    params = SamplingParams(max_new_tokens=7, n=2, seed=0)
    r = RolloutEngine(qwen2, tokenizer).generate(prompts, params)
    assert isinstance(r, Rollout)
    B, pad = len(prompts) * 2, tokenizer.pad_token_id
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert r.prompt_ids.shape == r.prompt_mask.shape == (B, max(lengths))
    assert r.completion_ids.shape == r.completion_mask.shape == r.logp.shape == (B, 7)
    assert r.logp.dtype == torch.float32 and len(r.texts) == len(r.finish_reasons) == B
    assert r.prompt_index == [0, 0, 1, 1, 2, 2]
    for b in range(B):
        p = prompts[r.prompt_index[b]]
        real = tokenizer(p, add_special_tokens=False)["input_ids"]
        assert r.prompt_mask[b].tolist() == [0] * (r.prompt_ids.shape[1] - len(real)) + [1] * len(real)  # left pad
        assert r.prompt_ids[b][r.prompt_mask[b].bool()].tolist() == real
        assert (r.prompt_ids[b][~r.prompt_mask[b].bool()] == pad).all()
        m = r.completion_mask[b].bool()
        assert m.tolist() == sorted(m.tolist(), reverse=True)  # a prefix of ones
        assert (r.completion_ids[b][~m] == pad).all() and (r.logp[b][~m] == 0).all()
        assert (r.logp[b][m] < 0).all()
        ids = r.completion_ids[b][m].tolist()
        text = tokenizer.decode(ids, skip_special_tokens=False)
        assert r.texts[b] == text.replace("<|endoftext|>", "").replace("<|pad|>", "")
    assert r.finish_reasons == ["length"] * B


def test_seeded_determinism(qwen2, tokenizer, prompts):
    engine = RolloutEngine(qwen2, tokenizer)
    params = SamplingParams(max_new_tokens=10, n=3, top_p=0.9, seed=123)
    a, b = engine.generate(prompts, params), engine.generate(prompts, params)
    assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(a.logp, b.logp) and a.texts == b.texts
    c = engine.generate(prompts, SamplingParams(max_new_tokens=10, n=3, top_p=0.9, seed=124))
    assert not torch.equal(a.completion_ids, c.completion_ids)


@pytest.mark.parametrize("arch", MODELS)
def test_greedy_equals_teacher_forced_argmax(arch, request, tokenizer, prompts, reference):
    model = request.getfixturevalue(arch)
    r = RolloutEngine(model, tokenizer).generate(prompts, SamplingParams(max_new_tokens=12, temperature=0.0, n=2))
    for b, logits in enumerate(reference(model, r)):
        ids = r.completion_ids[b, : logits.shape[0]]
        chosen = logits.gather(1, ids[:, None]).squeeze(1)  # (Lc,)
        assert torch.allclose(chosen, logits.max(dim=1).values, atol=1e-5)  # argmax up to float ties
        ref = torch.log_softmax(logits, -1).gather(1, ids[:, None]).squeeze(1)  # (Lc,)
        assert torch.allclose(r.logp[b, : logits.shape[0]], ref, atol=1e-4)
    assert torch.equal(r.completion_ids[0], r.completion_ids[1])  # greedy: the n samples agree


def _nucleus_mass(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """(L, V) -> (L,): probability mass of the top-p nucleus of each row."""
    sorted_p = probs.sort(dim=-1, descending=True).values
    return (sorted_p * ((sorted_p.cumsum(-1) - sorted_p) < top_p)).sum(-1)


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.8), (1.3, 0.3)])
def test_logp_is_log_softmax_of_logits_over_T(arch, temperature, top_p, request, tokenizer, prompts, reference):
    """logp = log_softmax(logits / T)[token] of an uncached teacher-forced pass -- not the top-p renormalised one
    (which is logp - log(nucleus mass)); left-padded prompts of different lengths, n = 3."""
    model = request.getfixturevalue(arch)
    params = SamplingParams(max_new_tokens=12, temperature=temperature, top_p=top_p, n=3, seed=7)
    r = RolloutEngine(model, tokenizer).generate(prompts, params)
    log_nucleus_mass = []
    for b, logits in enumerate(reference(model, r)):
        ids = r.completion_ids[b, : logits.shape[0]]
        probs = torch.softmax(logits / temperature, dim=-1)  # (Lc, V)
        ref = torch.log_softmax(logits / temperature, dim=-1).gather(1, ids[:, None]).squeeze(1)  # (Lc,)
        assert torch.allclose(r.logp[b, : len(ids)], ref, atol=1e-4), (b, r.logp[b], ref)
        mass_above = (probs * (probs > ref.exp()[:, None])).sum(-1)  # (Lc,) mass more probable than the token
        assert (mass_above < top_p + 1e-4).all()  # every sampled token lies in the nucleus
        log_nucleus_mass.append(_nucleus_mass(probs, top_p).log())
    if top_p < 1.0:
        assert torch.cat(log_nucleus_mass).mean() < -0.05  # the renormalised logp would differ visibly


def test_prompt_sharing_matches_unshared(qwen2, tokenizer, prompts):
    params = SamplingParams(max_new_tokens=10, n=4, top_p=0.95, seed=3)
    shared = RolloutEngine(qwen2, tokenizer, share_prompts=True).generate(prompts, params)
    unshared = RolloutEngine(qwen2, tokenizer, share_prompts=False).generate(prompts, params)
    assert torch.equal(shared.completion_ids, unshared.completion_ids)
    assert torch.equal(shared.prompt_ids, unshared.prompt_ids)
    assert torch.allclose(shared.logp, unshared.logp, atol=1e-5)


def test_duplicate_prompts_are_prefilled_once(qwen2, tokenizer, monkeypatch):
    engine = RolloutEngine(qwen2, tokenizer)
    widths = []
    real_prefill = engine.prefill

    def counting_prefill(ids, *args, **kwargs):
        widths.append(ids.shape[0])
        return real_prefill(ids, *args, **kwargs)

    monkeypatch.setattr(engine, "prefill", counting_prefill)
    r = engine.generate(["Hello world", "Hello world", "the answer"], SamplingParams(max_new_tokens=4, n=2, seed=0))
    assert widths == [2] and r.completion_ids.shape[0] == 6 and r.prompt_index == [0, 0, 1, 1, 2, 2]


def test_token_id_prompts_equal_string_prompts(qwen2, tokenizer, prompts):
    engine = RolloutEngine(qwen2, tokenizer)
    params = SamplingParams(max_new_tokens=6, seed=1)
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert torch.equal(engine.generate(prompts, params).completion_ids, engine.generate(ids, params).completion_ids)


def test_training_mode_restored(qwen2, tokenizer):
    qwen2.train()
    try:
        RolloutEngine(qwen2, tokenizer).generate(["Hello"], SamplingParams(max_new_tokens=2))
        assert qwen2.training
    finally:
        qwen2.eval()


def test_bad_input_is_a_user_error(qwen2, tokenizer):
    engine = RolloutEngine(qwen2, tokenizer)
    with pytest.raises(R1kitError):
        engine.generate([], SamplingParams())
    with pytest.raises(R1kitError):
        engine.generate([[]], SamplingParams())
    for bad in [dict(top_p=0.0), dict(temperature=-1.0), dict(n=0), dict(max_new_tokens=0)]:
        with pytest.raises(R1kitError):
            SamplingParams(**bad)
    assert SamplingParams(stop="</answer>").stop == ("</answer>",)
