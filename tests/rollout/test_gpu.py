"""The engine on CUDA: same contract, logp still matches a teacher-forced pass. Skipped without a GPU."""

from __future__ import annotations

import copy

import pytest
import torch

from r1kit.rollout import RolloutEngine, SamplingParams

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cuda_rollout_matches_teacher_forced(qwen2, tokenizer, prompts):
    model = copy.deepcopy(qwen2).cuda()
    model.generation_config.eos_token_id = list(range(10, 40))  # rows stop at scattered steps: compaction runs
    engine = RolloutEngine(model, tokenizer, compact_min_frac=0.0)
    params = SamplingParams(max_new_tokens=16, temperature=0.8, top_p=0.9, n=4, seed=5, stop=("er",))
    r = engine.generate(prompts, params)
    assert r.completion_ids.device.type == "cuda" and r.logp.dtype == torch.float32
    again = engine.generate(prompts, params)
    assert torch.equal(r.completion_ids, again.completion_ids)
    ids = torch.cat([r.prompt_ids, r.completion_ids], dim=1)  # (B, Lp + Lc)
    mask = torch.cat([r.prompt_mask, r.completion_mask], dim=1)  # (B, Lp + Lc)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    Lp = r.prompt_ids.shape[1]
    ref = torch.log_softmax(logits[:, Lp - 1 : -1] / 0.8, -1).gather(2, r.completion_ids[..., None]).squeeze(2)
    assert torch.allclose(r.logp, ref * r.completion_mask, atol=2e-4)
