"""Prompt sharing, left padding and the output buffers."""

from __future__ import annotations

import torch

from r1kit.rollout.batch import Outputs, left_pad, share_prompts


def test_share_prompts_dedups_and_expands():
    unique, expand = share_prompts([[1, 2], [3], [1, 2]], n=2)
    assert unique == [[1, 2], [3]] and expand.tolist() == [0, 0, 1, 1, 0, 0]
    unique, expand = share_prompts([[1, 2], [3]], n=2, share=False)
    assert unique == [[1, 2], [1, 2], [3], [3]] and expand.tolist() == [0, 1, 2, 3]


def test_left_pad():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_outputs_record_finish_and_texts(tokenizer):
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    think = tokenizer.convert_tokens_to_ids("<think>")
    out = Outputs.empty(rows=2, steps=4, pad_id=pad, device=torch.device("cpu"))
    rows = torch.tensor([0, 1])
    out.record(rows, 0, torch.tensor([think, 40]), torch.tensor([-1.0, -2.0]), torch.tensor([True, True]))
    out.record(rows, 1, torch.tensor([eos, 41]), torch.tensor([-0.5, -0.7]), torch.tensor([True, True]))
    out.finish(rows, torch.tensor([True, False]), 1)
    out.record(rows, 2, torch.tensor([99, 42]), torch.tensor([-9.0, -0.1]), torch.tensor([False, True]))
    r = out.to_rollout(torch.zeros(2, 1), torch.ones(2, 1), [0, 1], tokenizer, strip_ids=[eos, pad])
    assert r.completion_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert r.completion_ids[0].tolist() == [think, eos, pad, pad]  # a finished row writes nothing more
    assert r.logp[0].tolist() == [-1.0, -0.5, 0.0, 0.0]
    assert r.texts[0] == "<think>"  # eos stripped, other special tokens kept
    assert r.finish_reasons == ["stop", "length"]
