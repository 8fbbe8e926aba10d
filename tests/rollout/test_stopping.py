"""Ending completions: eos ids, stop strings, the length limit -- and that dropping finished rows
from the active batch (compaction) changes nothing in the results."""

from __future__ import annotations

import math

import pytest
import torch

from r1kit.rollout import RolloutEngine, SamplingParams
from r1kit.rollout.stopping import StopStringFinder, eos_token_ids

MANY = ["A conversation", "Hello world, the", "<think> step", "The user asks a question, and", "42", "answer is"]
N = 16


@pytest.fixture(scope="module")
def greedy_base(qwen2, tokenizer):
    """Greedy completions of MANY with no eos: every row runs the full N tokens."""
    return RolloutEngine(qwen2, tokenizer).generate(MANY, SamplingParams(max_new_tokens=N, temperature=0.0))


def _count_compactions(engine, monkeypatch) -> list[int]:
    sizes, real = [], engine.compact
    monkeypatch.setattr(engine, "compact", lambda state, keep: sizes.append(len(keep)) or real(state, keep))
    return sizes


@pytest.mark.parametrize("frac", [0.0, 0.25, math.inf])
def test_eos_truncates_greedy_and_compaction_is_invisible(frac, qwen2, tokenizer, greedy_base, monkeypatch):
    ids = greedy_base.completion_ids.tolist()
    eos = sorted({ids[0][2], ids[1][9], ids[3][5]})
    monkeypatch.setattr(qwen2.generation_config, "eos_token_id", eos)
    ends = [next((j + 1 for j, t in enumerate(row) if t in eos), N) for row in ids]
    assert len(set(ends)) > 2  # rows finish at different steps
    engine = RolloutEngine(qwen2, tokenizer, compact_min_frac=frac)
    compactions = _count_compactions(engine, monkeypatch)
    r = engine.generate(MANY, SamplingParams(max_new_tokens=N, temperature=0.0))
    assert r.completion_mask.sum(dim=1).tolist() == ends
    for b, e in enumerate(ends):
        assert r.completion_ids[b, :e].tolist() == ids[b][:e]
        assert (r.completion_ids[b, e:] == tokenizer.pad_token_id).all() and (r.logp[b, e:] == 0).all()
        assert torch.allclose(r.logp[b, :e], greedy_base.logp[b, :e], atol=1e-5)
        assert r.finish_reasons[b] == ("stop" if any(t in eos for t in ids[b]) else "length")
    assert bool(compactions) == (frac != math.inf)


def test_sampling_with_eos_and_forced_compaction_keeps_logp_exact(qwen2, tokenizer, prompts, reference, monkeypatch):
    eos = list(range(10, 40))  # ~10% of the vocabulary: rows stop at scattered steps
    monkeypatch.setattr(qwen2.generation_config, "eos_token_id", eos)
    engine = RolloutEngine(qwen2, tokenizer, compact_min_frac=0.0)
    compactions = _count_compactions(engine, monkeypatch)
    r = engine.generate(prompts, SamplingParams(max_new_tokens=N, temperature=1.0, top_p=0.9, n=4, seed=11))
    assert compactions and "stop" in r.finish_reasons
    for b, logits in enumerate(reference(qwen2, r)):
        gen = r.completion_ids[b, : logits.shape[0]]
        ref = torch.log_softmax(logits, dim=-1).gather(1, gen[:, None]).squeeze(1)
        assert torch.allclose(r.logp[b, : logits.shape[0]], ref, atol=1e-4)
        stops = [t in eos or t == tokenizer.eos_token_id for t in gen.tolist()]
        assert not any(stops[:-1]) and stops[-1] == (r.finish_reasons[b] == "stop")


def test_length_limit(qwen2, tokenizer, prompts):
    r = RolloutEngine(qwen2, tokenizer).generate(prompts, SamplingParams(max_new_tokens=5, seed=0))
    assert r.finish_reasons == ["length"] * len(prompts)
    assert r.completion_ids.shape == (len(prompts), 5) and bool(r.completion_mask.all())


def _printable_window(text: str, width: int = 2) -> str | None:
    for i in range(2, len(text) - width):
        piece = text[i : i + width]
        if piece.isascii() and piece.isprintable() and not piece[-1].isspace():
            return piece
    return None


def test_stop_string_ends_row_and_is_kept(qwen2, tokenizer, greedy_base):
    src = next(b for b, text in enumerate(greedy_base.texts) if _printable_window(text))
    stop = _printable_window(greedy_base.texts[src])
    r = RolloutEngine(qwen2, tokenizer).generate(MANY, SamplingParams(max_new_tokens=N, temperature=0.0, stop=(stop,)))
    for b, row in enumerate(greedy_base.completion_ids.tolist()):
        decoded = [tokenizer.decode(row[:k], skip_special_tokens=False) for k in range(1, N + 1)]
        end = next((k + 1 for k, d in enumerate(decoded) if stop in d), N)  # first prefix that contains it
        assert r.completion_mask[b].sum() == end and r.completion_ids[b, :end].tolist() == row[:end]
        assert r.finish_reasons[b] == ("stop" if stop in decoded[-1] else "length")
        assert r.texts[b] == decoded[end - 1].replace("<|pad|>", "").replace("<|endoftext|>", "")
    assert r.finish_reasons[src] == "stop" and stop in r.texts[src]


def test_stop_string_finder_checks_only_candidate_tokens(tokenizer):
    matcher = StopStringFinder(tokenizer, ("</answer>",), len(tokenizer) + 8, torch.device("cpu"))
    for i in range(len(tokenizer)):
        piece = tokenizer.decode([i])
        if ">" in piece or "\ufffd" in piece:
            assert matcher.candidate[i]
    assert matcher.candidate[len(tokenizer):].all()  # unknown ids are always checked
    assert not matcher.candidate[tokenizer.convert_tokens_to_ids("A")]
    assert StopStringFinder(tokenizer, ("\n",), len(tokenizer), torch.device("cpu")).candidate.all()


def test_eos_ids_merge_tokenizer_and_generation_config(qwen2, tokenizer, monkeypatch):
    monkeypatch.setattr(qwen2.generation_config, "eos_token_id", [7, tokenizer.eos_token_id])
    assert eos_token_ids(qwen2, tokenizer) == sorted({7, tokenizer.eos_token_id})
