"""End to end over the real continuous batcher and the tiny random model: the plumbing, not the text."""

import math
import socket
import time

import pytest
import torch

from tests.serve.conftest import tiny_live_server

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]
SPECIAL = ("<|endoftext|>", "<|pad|>", "<|User|>", "<|Assistant|>")  # a random model may emit invalid UTF-8


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from openai import OpenAI

    with tiny_live_server(tiny_model_dir) as (server, batcher, _, streams):
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
        yield server, batcher, client, streams


def wait_idle(batcher, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (batcher.stats["active"] or batcher.stats["queued"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return batcher.stats


def test_chat_n2_usage_and_seed(tiny):
    server, batcher, client, streams = tiny
    kw = dict(model="tiny", messages=CHAT, n=2, max_tokens=8, seed=3)
    first = client.chat.completions.create(**kw)
    assert [c.index for c in first.choices] == [0, 1]
    assert first.usage.completion_tokens == sum(s.completion_tokens for s in streams[-2:])
    assert first.usage.prompt_tokens == streams[-1].prompt_tokens
    for choice in first.choices:
        text = (choice.message.model_extra["reasoning_content"] or "") + (choice.message.content or "")
        assert choice.finish_reason in ("stop", "length") and not any(s in text for s in SPECIAL)
    again = client.chat.completions.create(**kw)
    assert [c.message.model_extra["reasoning_content"] for c in again.choices] == [
        c.message.model_extra["reasoning_content"] for c in first.choices]  # seed + choice index


def test_streams_concurrently(tiny):
    server, batcher, client, streams = tiny
    chunks = list(client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12, n=3, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == sum(s.completion_tokens for s in streams[-3:])
    assert {c.choices[0].index for c in chunks[:-1]} == {0, 1, 2}
    stream = client.completions.create(model="tiny", prompt="Once", max_tokens=10, stream=True)
    text = "".join(c.choices[0].text for c in stream)
    assert not any(s in text for s in SPECIAL)
    assert wait_idle(batcher)["active"] == 0


def test_client_gone_cancels_the_real_stream(tiny):
    server, batcher, client, streams = tiny
    host, port = server.url.removeprefix("http://").split(":")
    body = b'{"messages": [{"role": "user", "content": "hi"}], "stream": true, "temperature": 0}'
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while b'"reasoning' not in received:  # one token has arrived; then vanish
            received += sock.recv(4096)
    stats = wait_idle(batcher)
    assert (stats["active"], stats["queued"]) == (0, 0)
    print(f"\ncancelled after {streams[-1].completion_tokens} tokens")
    assert streams[-1].finish_reason == "cancelled"  # greedy on this model does not reach eos this soon


def test_load_on_the_real_engine(tiny):
    """32 requests, 8 at a time, a fifth malformed: every valid one answered, every bad one a 4xx error
    object, and afterwards no generation slot is held."""
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.serve.test_load import MALFORMED

    server, batcher, _, _ = tiny
    valid = [{"messages": CHAT, "max_tokens": 16}, {"messages": CHAT, "max_tokens": 16, "stream": True},
             {"messages": CHAT, "max_tokens": 16, "n": 2}, {"prompt": "Once", "max_tokens": 16}]

    def one(i: int) -> str:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            if i % 5 == 0:
                path, body = MALFORMED[i % len(MALFORMED)]
                resp = http.post(path, content=body, headers={"Content-Type": "application/json"})
                return "bad:4xx" if 400 <= resp.status_code < 500 and "message" in resp.json()["error"] else "bad:?"
            body = valid[i % len(valid)]
            path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
            if body.get("stream"):
                with http.stream("POST", path, json=body) as resp:
                    done = resp.read().decode().endswith("data: [DONE]\n\n")
                return "ok" if resp.status_code == 200 and done else f"fail:{resp.status_code}"
            resp = http.post(path, json=body)
            n = len(resp.json().get("choices", []))
            return "ok" if resp.status_code == 200 and n == body.get("n", 1) else f"fail:{resp.status_code}"

    with ThreadPoolExecutor(8) as pool:
        results = Counter(pool.map(one, range(32)))
    assert results == {"ok": 25, "bad:4xx": 7}, results
    stats = wait_idle(batcher)
    assert stats["active"] == 0 and stats["queued"] == 0


def teacher_forced(model, prompt_ids: list[int], ids: list[int], temperature: float) -> torch.Tensor:
    """log_softmax(model(prompt + completion).logits / T) at each completion position, in one plain forward:
    (len(ids), V)."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + ids])).logits[0, len(prompt_ids) - 1 : -1].float()
    return torch.log_softmax(logits / (temperature or 1.0), dim=-1)


def check_against_teacher(ref: torch.Tensor, ids: list[int], logprobs: list[float], tops: list[list[tuple[int, float]]],
                          k: int) -> None:
    assert torch.allclose(torch.tensor(logprobs), ref[torch.arange(len(ids)), ids], atol=1e-4)
    for i, top in enumerate(tops):
        values = [lp for _, lp in top]
        assert values == sorted(values, reverse=True) and sum(math.exp(v) for v in values) <= 1 + 1e-6
        assert torch.allclose(torch.tensor(values), ref[i].topk(k).values, atol=1e-4)
        assert torch.allclose(torch.tensor(values), ref[i, [t for t, _ in top]], atol=1e-4)
        rank = int((ref[i] > ref[i, ids[i]]).sum())
        assert (ids[i] in [t for t, _ in top]) == (rank < k)


def ids_of(tokenizer, entries) -> list[int]:
    """Token ids back from the response's bytes, through the byte-level alphabet (checks `bytes` too)."""
    from r1kit.serve.logprobs import _byte_alphabet

    char = {b: c for c, b in _byte_alphabet().items()}
    return [tokenizer.convert_tokens_to_ids("".join(char[b] for b in e["bytes"])) for e in entries]


def chat_logprobs_of(server, body: dict) -> list[list[dict]]:
    """Per choice, the logprobs.content entries: from the response, or joined from the SSE chunks."""
    import json

    import httpx

    resp = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    if not body.get("stream"):
        return [c["logprobs"]["content"] for c in resp.json()["choices"]]
    out: dict[int, list] = {}
    for line in resp.text.split("\n\n"):
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                out.setdefault(choice["index"], []).extend((choice["logprobs"] or {}).get("content", []))
    return [out[i] for i in sorted(out)]


def test_chat_logprobs_equal_teacher_forced_log_softmax(tiny):
    """Each returned logprob is log_softmax(logits / T) at the sampled token -- not the top-p renormalised
    one -- as a plain teacher-forced forward computes it; streamed and not agree for a seeded request."""
    server, batcher, client, streams = tiny
    T, k = 0.7, 5
    body = {"messages": CHAT, "n": 2, "max_tokens": 10, "temperature": T, "top_p": 0.8, "seed": 5, "logprobs": True,
            "top_logprobs": k}
    plain = chat_logprobs_of(server, body)
    for entries, stream in zip(plain, streams[-2:]):
        ids = stream.ids[: len(entries)]
        assert len(entries) == stream.completion_tokens and ids_of(batcher.engine.tokenizer, entries) == ids
        ref = teacher_forced(batcher.model, stream.request.prompt_ids, ids, T)
        tops = [[(t, e2["logprob"]) for t, e2 in zip(ids_of(batcher.engine.tokenizer, e["top_logprobs"]),
                                                      e["top_logprobs"])] for e in entries]
        check_against_teacher(ref, ids, [e["logprob"] for e in entries], tops, k)
    streamed = chat_logprobs_of(server, {**body, "stream": True})
    assert [[e["token"] for e in c] for c in streamed] == [[e["token"] for e in c] for c in plain]
    for a, b in zip(streamed, plain):
        assert [e["logprob"] for e in a] == pytest.approx([e["logprob"] for e in b], abs=1e-5)
    assert wait_idle(batcher)["active"] == 0


def test_completion_logprobs_equal_teacher_forced_log_softmax(tiny):
    server, batcher, client, streams = tiny
    kw = dict(model="tiny", prompt="Once upon a time", max_tokens=8, temperature=1.0, top_p=0.9, seed=1, logprobs=3)
    resp = client.completions.create(**kw)
    lp, stream = resp.choices[0].logprobs, streams[-1]
    ids = stream.ids[: len(lp.tokens)]
    assert len(ids) == stream.completion_tokens == resp.usage.completion_tokens
    ref = teacher_forced(batcher.model, stream.request.prompt_ids, ids, 1.0)
    assert torch.allclose(torch.tensor(lp.token_logprobs), ref[torch.arange(len(ids)), ids], atol=1e-4)
    for i, top in enumerate(lp.top_logprobs):  # the 3 most likely and the sampled token (ids with one text: one key)
        allowed = torch.cat([ref[i].topk(3).values, ref[i, ids[i] : ids[i] + 1]])  # (4,)
        assert max(top.values()) == pytest.approx(ref[i].max().item(), abs=1e-4)
        assert all((allowed - v).abs().min() < 1e-4 for v in top.values())
    chunks = list(client.completions.create(**kw, stream=True))
    assert [t for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.tokens] == lp.tokens
    assert [x for c in chunks if c.choices[0].logprobs for x in c.choices[0].logprobs.token_logprobs] == \
        pytest.approx(lp.token_logprobs, abs=1e-5)
