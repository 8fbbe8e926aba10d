"""Continuous batching (r1kit.serve.batcher) against RolloutEngine run alone, plus the stream contract.

Exactness policy: greedy (T = 0) tokens must EQUAL those of `RolloutEngine.generate` on the prompt
alone. Joining pads cache columns with masked zeros, which changes fp32 summation order only
(logit differences ~1e-6); a greedy flip would need a near-tie in the top-2 logits, which these
seeded tiny models do not have. Joins are placed deterministically by hooking `decode_step`.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from r1kit.models import load_model, load_tokenizer, new_model
from r1kit.rollout import RolloutEngine, SamplingParams
from r1kit.rollout.kv_cache import SlabLayer, concat_rows, trim_left
from r1kit.serve.batcher import Batcher, QueueFull, Request
from r1kit.serve.kv_merge import merge_states, trim_padding

TIMEOUT = 20.0


pytestmark = pytest.mark.usefixtures("one_thread")


# Untied embeddings and a wider init: with tied ones a random tiny model greedily repeats the last
# prompt token whatever the positions, and a wrong position id or mask would go unnoticed.
SHAPES = {"qwen2": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128),
          "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_inner=128),  # learned absolute positions
          "llama": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128),
          "deepseek_v3": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, moe_intermediate_size=32,
                              n_routed_experts=4, q_lora_rank=32, kv_lora_rank=32)}  # MLA: K and V widths differ


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return {arch: new_model(arch, "tiny", root / arch, seed=0, tie_word_embeddings=False, initializer_range=0.1,
                            **shape) for arch, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def models(model_dirs):
    return {arch: (load_model(d), load_tokenizer(d)) for arch, d in model_dirs.items()}


@pytest.fixture
def qwen2(models):
    return models["qwen2"]


def prompt(n: int, seed: int) -> list[int]:
    return torch.randint(5, 500, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def alone(model, tokenizer, ids: list[int], n: int, **kw) -> list[int]:
    """Tokens RolloutEngine.generate gives `ids` on its own (eos included, as the Batcher delivers it)."""
    r = RolloutEngine(model, tokenizer).generate([ids], SamplingParams(max_new_tokens=n, **kw))
    return r.completion_ids[0][r.completion_mask[0].bool()].tolist()


def collect(stream) -> list[int]:
    out = []
    while (chunk := stream.get(timeout=TIMEOUT)) is not None:
        assert len(chunk) >= 1
        out += chunk
    return out


def settled(batcher: Batcher) -> dict:
    """Stats once the loop has dropped every finished row (a client can see its end a step earlier)."""
    deadline = time.monotonic() + TIMEOUT
    while (stats := batcher.stats)["active"] + stats["queued"] > 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    return stats


def on_decode_step(batcher: Batcher, hook) -> None:
    """Call hook(k) in the loop thread before the k-th decode_step (k = 1, 2, ...)."""
    original, calls = batcher.engine.decode_step, [0]

    def decode_step(state):
        calls[0] += 1
        hook(calls[0])
        original(state)

    batcher.engine.decode_step = decode_step


@pytest.fixture
def make_batcher():
    made = []

    def make(model, tokenizer, start: bool = True, **kw) -> Batcher:
        b = Batcher(model, tokenizer, **kw)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in made:
        b.close()


# ---- cache joining and trimming ----
@pytest.mark.parametrize("slab", [True, False])
def test_concat_rows_right_aligns_and_zero_pads(slab):
    def cache(rows, length, fill):
        c = DynamicCache()
        c.layers = [SlabLayer(length + 3) if slab else DynamicLayer()]
        c.layers[0].update(torch.full((rows, 2, length, 4), fill), torch.full((rows, 2, length, 4), -fill))
        return c

    a = concat_rows(cache(2, 3, 1.0), cache(1, 5, 2.0), capacity=9 if slab else None)
    layer = a.layers[0]
    assert type(layer) is (SlabLayer if slab else DynamicLayer) and layer.keys.shape == (3, 2, 5, 4)
    assert (layer.keys[:2, :, :2] == 0).all() and (layer.keys[:2, :, 2:] == 1).all() and (layer.keys[2] == 2).all()
    assert (layer.values[:2, :, 2:] == -1).all() and a.get_seq_length() == 5
    trim_left(a, 2)
    assert layer.keys.shape == (3, 2, 3, 4) and (layer.keys[:2] == 1).all() and (layer.keys[2] == 2).all()
    if slab:
        assert layer.capacity == 9
        layer.update(torch.zeros(3, 2, 6, 4), torch.zeros(3, 2, 6, 4))  # the trimmed room is usable again


@pytest.mark.parametrize("first", ["short", "long"])
def test_merge_then_trim_matches_each_row_alone(first, qwen2):
    """Row `first` decodes 2 steps, the other joins (the shorter side is left-padded), both decode 3,
    the long one leaves and the padding is trimmed, the short one decodes 3 more: logits as alone."""
    model, tokenizer = qwen2
    engine = RolloutEngine(model, tokenizer)
    ids = {"short": prompt(3, 0), "long": prompt(11, 1)}
    second = "long" if first == "short" else "short"

    def prefilled(name):
        t = torch.tensor([ids[name]])  # (1, Lp)
        return engine.prefill(t, torch.ones_like(t), torch.arange(1), extra=8)

    def greedy(state, steps):  # logits of `steps` greedy steps (A, steps, V)
        out = []
        for _ in range(steps):
            out.append(state.logits)
            state.next_tokens = state.logits.argmax(-1)
            engine.decode_step(state)
        return torch.stack(out, dim=1)

    with torch.inference_mode():
        ref = {name: greedy(prefilled(name), 8)[0] for name in ids}  # (8, V) each
        state = prefilled(first)
        head = greedy(state, 2)[0]
        state = merge_states(state, prefilled(second), extra=8)
        assert state.kv_len == max(len(ids[first]) + 2, len(ids[second])) and state.attention_mask is not None
        both = greedy(state, 3)
        stay = 0 if first == "short" else 1
        engine.compact(state, torch.tensor([stay]))  # the long row leaves
        real = len(ids["short"]) + (2 if first == "short" else 0) + 3
        kv_len = state.kv_len
        assert trim_padding(state) == kv_len - real
        assert state.kv_len == real and state.attention_mask is None  # no padding left: the unpadded path
        rest = greedy(state, 3)[0]
    got = {first: torch.cat([head, both[0]]), second: both[1]}
    got["short"] = torch.cat([got["short"], rest])
    for name, logits in got.items():
        torch.testing.assert_close(logits, ref[name][: logits.shape[0]], atol=1e-5, rtol=0)


# ---- exactness under joins and leaves ----
@pytest.mark.parametrize("arch", list(SHAPES))
def test_greedy_tokens_equal_engine_alone_while_others_join_and_leave(arch, models, make_batcher):
    model, tokenizer = models[arch]
    # (prompt length, max_tokens, decode step at which it is submitted); max_batch 3 makes D, E, F wait
    plan = {"A": (7, 24, 0), "B": (15, 6, 2), "C": (2, 12, 2), "D": (11, 9, 4), "E": (1, 14, 4), "F": (4, 5, 10)}
    requests = {k: Request(prompt(n, i), max_tokens=m, temperature=0) for i, (k, (n, m, _)) in enumerate(plan.items())}
    batcher = make_batcher(model, tokenizer, start=False, max_batch=3)
    streams = {"A": batcher.submit(requests["A"])}
    kv_lens = []  # (cache length, longest active row) before each decode step: equal when trimming works

    def hook(k):
        real = [len(requests[n].prompt_ids) + s.completion_tokens - 1 for n, s in streams.items() if not s.finished]
        kv_lens.append((batcher.stats["kv_len"], max(real)))
        streams.update({name: batcher.submit(requests[name]) for name, (_, _, at) in plan.items() if at == k})

    on_decode_step(batcher, hook)
    batcher.start()
    got = {"A": collect(streams["A"])}
    deadline = time.monotonic() + TIMEOUT
    while len(streams) < len(plan) and time.monotonic() < deadline:
        time.sleep(0.01)
    got |= {name: collect(s) for name, s in streams.items() if name != "A"}
    for name, r in requests.items():
        assert got[name] == alone(model, tokenizer, r.prompt_ids, r.max_tokens, temperature=0), name
        s = streams[name]
        assert s.completion_tokens == len(got[name]) and s.prompt_tokens == len(r.prompt_ids)
        assert s.finish_reason == ("length" if len(got[name]) == r.max_tokens else "stop")
    assert all(kv == real for kv, real in kv_lens), kv_lens
    stats = settled(batcher)
    assert stats["joins"] == stats["leaves"] == 6 and stats["prefills"] >= 4 and stats["active"] == 0
    assert stats["steps"] < stats["tokens"] == sum(len(t) for t in got.values())


# ---- the stream contract ----
def test_cancel_ends_stream_and_frees_row_at_next_step(qwen2, make_batcher):
    batcher = make_batcher(*qwen2, start=False)
    a = batcher.submit(Request(prompt(5, 0), max_tokens=30, temperature=0))
    b = batcher.submit(Request(prompt(6, 1), max_tokens=30, temperature=0))
    active = {}

    def hook(k):
        active[k] = batcher.stats["active"]
        if k == 3:
            b.cancel()
            b.cancel()  # idempotent

    on_decode_step(batcher, hook)
    batcher.start()
    tokens_b = collect(b)
    assert b.finish_reason == "cancelled" and b.completion_tokens == len(tokens_b) == 3 and b.error is None
    collect(a)
    assert active[3] == 2 and active[4] == 1 and a.finish_reason == "length"
    a.cancel()  # after the end: nothing changes
    assert a.finish_reason == "length" and a.completion_tokens == 30


def test_cancelled_while_queued_never_runs(qwen2, make_batcher):
    batcher = make_batcher(*qwen2, max_batch=1)
    first = batcher.submit(Request(prompt(4, 0), max_tokens=20))
    queued = batcher.submit(Request(prompt(4, 1), max_tokens=20))
    queued.cancel()
    assert queued.get(timeout=1) is None and queued.finish_reason == "cancelled"
    collect(first)
    assert batcher.stats["joins"] == 1 and queued.completion_tokens == 0


def test_queue_full_and_bad_requests(qwen2, make_batcher):
    batcher = make_batcher(*qwen2, start=False, max_queue=2, context=16)
    s = [batcher.submit(Request([5, 6], max_tokens=4)) for _ in range(2)]
    with pytest.raises(QueueFull):
        batcher.submit(Request([5, 6], max_tokens=4))
    s[0].cancel()  # a cancelled request gives its place back
    batcher.submit(Request([5, 6], max_tokens=4))
    assert batcher.stats["queued"] == 2
    bad = [Request([], 4), Request(list(range(5, 21)), 4), Request([5], 0), Request([5], 4, temperature=-1),
           Request([5], 4, top_p=0.0), Request([10**6], 4), Request([-1], 4)]
    for r in bad:
        with pytest.raises(ValueError):
            batcher.submit(r)


def test_max_tokens_and_context_end_give_length(qwen2, make_batcher):
    batcher = make_batcher(*qwen2, context=12)
    by_max = batcher.submit(Request(prompt(3, 0), max_tokens=5, temperature=0))
    by_context = batcher.submit(Request(prompt(8, 1), max_tokens=100, temperature=0))
    assert len(collect(by_max)) == 5 and by_max.finish_reason == "length"
    assert len(collect(by_context)) == 12 - 8 and by_context.finish_reason == "length"


def test_eos_gives_stop(model_dirs, make_batcher):
    model, tokenizer = load_model(model_dirs["qwen2"]), load_tokenizer(model_dirs["qwen2"])  # a copy to edit
    ids = prompt(6, 3)
    ref = alone(model, tokenizer, ids, 10, temperature=0)
    stop_at = next(i for i in range(2, 10) if ref[i] not in ref[:i])  # a token first seen at step i
    model.generation_config.eos_token_id = ref[stop_at]
    stream = make_batcher(model, tokenizer).submit(Request(ids, max_tokens=10, temperature=0))
    assert collect(stream) == ref[: stop_at + 1] and stream.finish_reason == "stop"


def test_seeded_sampling_reproducible_and_equal_to_engine(qwen2, make_batcher):
    model, tokenizer = qwen2
    batcher = make_batcher(model, tokenizer)
    req = Request(prompt(5, 0), max_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    solo = collect(batcher.submit(req))
    others = [batcher.submit(Request(prompt(3 + i, i), max_tokens=16, temperature=1.0)) for i in range(3)]
    crowded = collect(batcher.submit(req))
    for s in others:
        collect(s)
    assert solo == crowded == alone(model, tokenizer, req.prompt_ids, 16, temperature=1.0, top_p=0.9, seed=7)
    other_seed = collect(batcher.submit(Request(req.prompt_ids, 16, temperature=1.0, top_p=0.9, seed=8)))
    assert other_seed != solo


def test_seeded_rows_sampled_together_each_equal_its_engine_output(qwen2, make_batcher):
    """Seeded rows with equal settings share one sampling call, each with uniforms from its own generator."""
    model, tokenizer = qwen2
    batcher = make_batcher(model, tokenizer)
    reqs = [Request(prompt(3 + i, i), max_tokens=12, temperature=0.8, top_p=0.9, seed=10 + i) for i in range(4)]
    streams = [batcher.submit(r) for r in reqs]  # submitted together: one group of four seeded rows
    got = [collect(s) for s in streams]
    assert got == [alone(model, tokenizer, r.prompt_ids, 12, temperature=0.8, top_p=0.9, seed=r.seed) for r in reqs]
    assert len(set(map(tuple, got))) == 4


def test_logprobs_are_the_engine_logp_and_only_for_rows_that_ask(qwen2, make_batcher, monkeypatch):
    """Stream.logprobs[i] holds the i-th token's logprob exactly as RolloutEngine records it (log_softmax(logits
    / T), before top-p) and its k most likely alternatives; a row that does not ask gets nothing computed."""
    from r1kit.rollout import sampling

    model, tokenizer = qwen2
    batcher = make_batcher(model, tokenizer)
    reqs = [Request(prompt(3 + i, i), max_tokens=10, temperature=0.8, top_p=0.9, seed=30 + i, logprobs=k)
            for i, k in enumerate([None, 0, 4])]
    streams = [batcher.submit(r) for r in reqs]  # one sampling group: the rows that ask and the one that does not
    got = [collect(s) for s in streams]
    for r, s, ids in zip(reqs, streams, got):
        rollout = RolloutEngine(model, tokenizer).generate([r.prompt_ids], SamplingParams(
            max_new_tokens=10, temperature=0.8, top_p=0.9, seed=r.seed))
        mask = rollout.completion_mask[0].bool()
        assert ids == rollout.completion_ids[0][mask].tolist()
        if r.logprobs is None:
            assert s.logprobs == []
            continue
        assert len(s.logprobs) == len(ids) and all(len(e.top) == r.logprobs for e in s.logprobs)
        assert torch.allclose(torch.tensor([e.logprob for e in s.logprobs]), rollout.logp[0][mask], atol=1e-5)
        for e in s.logprobs:
            assert [lp for _, lp in e.top] == sorted((lp for _, lp in e.top), reverse=True)

    def no_topk(*args):
        raise AssertionError("top_logprobs computed for a request that did not ask")

    monkeypatch.setattr(sampling, "top_logprobs", no_topk)
    plain = [batcher.submit(Request(prompt(4, 9), max_tokens=6, temperature=t, seed=1)) for t in (0.0, 0.8)]
    assert all(len(collect(s)) == 6 and s.finish_reason == "length" and s.logprobs == [] for s in plain)


def test_close_ends_everything_and_the_thread_exits(qwen2, make_batcher):
    batcher = make_batcher(*qwen2, max_batch=2)
    streams = [batcher.submit(Request(prompt(4, i), max_tokens=900)) for i in range(4)]
    assert streams[0].get(timeout=TIMEOUT)
    batcher.close()
    batcher.close()  # idempotent
    assert not batcher._thread.is_alive()
    for s in streams:
        collect(s)
        assert s.finish_reason == "cancelled"
    with pytest.raises(RuntimeError):
        batcher.submit(Request([5], 4))


def test_forward_error_fails_running_rows_and_serving_continues(qwen2, make_batcher, monkeypatch):
    model, tokenizer = qwen2
    real, calls = model.forward, [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:  # prefill, decode, then this decode step raises
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    expected = alone(model, tokenizer, prompt(4, 9), 8, temperature=0)
    batcher = make_batcher(model, tokenizer, start=False)
    monkeypatch.setattr(model, "forward", flaky)
    failed = [batcher.submit(Request(prompt(4, i), max_tokens=20)) for i in range(2)]
    batcher.start()
    for s in failed:
        assert len(collect(s)) == 2 and s.finish_reason == "error" and "injected" in s.error
    ok = batcher.submit(Request(prompt(4, 9), max_tokens=8, temperature=0))
    assert collect(ok) == expected and ok.finish_reason == "length"
    assert batcher.stats["errors"] == 2 and batcher._thread.is_alive()


def test_prefill_error_fails_only_the_arrivals(qwen2, make_batcher, monkeypatch):
    model, tokenizer = qwen2
    real, armed = model.forward, [False]

    def flaky(*args, input_ids=None, **kwargs):
        if armed[0] and input_ids.shape[1] > 1:  # the next prefill
            armed[0] = False
            raise RuntimeError("injected prefill")
        return real(*args, input_ids=input_ids, **kwargs)

    expected = alone(model, tokenizer, prompt(5, 0), 12, temperature=0)
    batcher = make_batcher(model, tokenizer, start=False)
    monkeypatch.setattr(model, "forward", flaky)
    running = batcher.submit(Request(prompt(5, 0), max_tokens=12, temperature=0))
    joining = []

    def hook(k):
        if k == 2:
            armed[0] = True
            joining.append(batcher.submit(Request(prompt(6, 1), max_tokens=12)))

    on_decode_step(batcher, hook)
    batcher.start()
    assert collect(running) == expected
    assert collect(joining[0]) == [] and joining[0].finish_reason == "error" and "prefill" in joining[0].error


# ---- concurrency ----
def test_16_threads_complete_and_share_steps(qwen2, make_batcher):
    batcher = make_batcher(*qwen2)
    results: dict[int, tuple] = {}

    def client(i):
        s = batcher.submit(Request(prompt(3 + i % 7, i), max_tokens=10 + i, temperature=0.6))
        results[i] = (collect(s), s.finish_reason)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert len(results) == 16
    for i, (tokens, reason) in results.items():
        assert reason in ("stop", "length") and 1 <= len(tokens) <= 10 + i
        assert reason == "stop" or len(tokens) == 10 + i
    stats = settled(batcher)
    assert stats["tokens"] == sum(len(t) for t, _ in results.values())
    assert stats["steps"] < stats["tokens"] / 2  # batched, not one request after another


def test_aget_from_asyncio_handlers(qwen2, make_batcher):
    model, tokenizer = qwen2
    batcher = make_batcher(model, tokenizer)

    async def handler(i):
        s = batcher.submit(Request(prompt(4 + i, i), max_tokens=12, temperature=0))
        out = []
        while (chunk := await s.aget()) is not None:
            out += chunk
        return out

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(handler(i) for i in range(4))), TIMEOUT)

    got = asyncio.run(main())
    assert got == [alone(model, tokenizer, prompt(4 + i, i), 12, temperature=0) for i in range(4)]
