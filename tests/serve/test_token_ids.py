"""`return_tokens_as_token_ids: true` (vLLM's field): logprobs name tokens "token_id:<id>", the exact ids the
batcher generated, in completions (plain and streamed) and chat; without it tokens keep their text."""

import json

import httpx
import pytest

from tests.serve.conftest import tiny_live_server


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    """A live server over the real batcher and the tiny qwen2; `streams` records each request's token ids."""
    with tiny_live_server(tiny_model_dir) as (server, _, tokenizer, streams):
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield http, tokenizer, streams


def ids_of(names: list[str]) -> list[int]:
    assert all(n.startswith("token_id:") for n in names), names
    return [int(n.removeprefix("token_id:")) for n in names]


def test_completion_tokens_are_the_generated_ids(tiny):
    http, tokenizer, streams = tiny
    prompt = tokenizer.encode("What is 2 + 3?", add_special_tokens=False)
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 1.0, "seed": 3, "n": 2, "logprobs": 2,
            "return_tokens_as_token_ids": True}
    resp = http.post("/v1/completions", json=body).json()
    for choice, stream in zip(resp["choices"], streams[-2:]):
        lp = choice["logprobs"]
        ids = ids_of(lp["tokens"])
        assert ids == stream.ids[: len(ids)] and len(ids) == stream.completion_tokens
        assert len(lp["token_logprobs"]) == len(ids)
        for tid, top in zip(ids, lp["top_logprobs"]):  # k = 2 alternatives plus the sampled token, all by id
            assert 2 <= len(top) <= 3 and f"token_id:{tid}" in top
            ids_of(list(top))
    plain = http.post("/v1/completions", json={**body, "return_tokens_as_token_ids": False}).json()
    names = plain["choices"][0]["logprobs"]["tokens"]
    assert names == [tokenizer.decode([i], skip_special_tokens=False) for i in ids_of(resp["choices"][0]["logprobs"]["tokens"])]
    assert plain["choices"][0]["logprobs"]["token_logprobs"] == pytest.approx(
        resp["choices"][0]["logprobs"]["token_logprobs"], abs=1e-5)  # same seed: same tokens, same numbers


def test_streamed_and_chat_name_tokens_by_id(tiny):
    http, tokenizer, streams = tiny
    body = {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 1.0, "seed": 1, "logprobs": 0,
            "return_tokens_as_token_ids": True, "stream": True}
    with http.stream("POST", "/v1/completions", json=body) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    names = [t for c in chunks if c["choices"] and c["choices"][0]["logprobs"] for t in c["choices"][0]["logprobs"]["tokens"]]
    assert ids_of(names) == streams[-1].ids[: len(names)] and len(names) == streams[-1].completion_tokens
    chat = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 6,
                                                   "logprobs": True, "top_logprobs": 1, "seed": 0,
                                                   "return_tokens_as_token_ids": True}).json()
    content = chat["choices"][0]["logprobs"]["content"]
    assert ids_of([e["token"] for e in content]) == streams[-1].ids[: len(content)]
    assert all(ids_of([a["token"] for a in e["top_logprobs"]]) for e in content)


def test_bad_flag_is_400(tiny):
    http, _, _ = tiny
    r = http.post("/v1/completions", json={"prompt": "a", "logprobs": 0, "return_tokens_as_token_ids": "yes"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "return_tokens_as_token_ids"


def test_completion_logprobs_shape_by_id():
    """The formatter alone: ids name the sampled token and the alternatives; offsets are untouched."""
    from r1kit.serve.logprobs import AsTokenIds, Token, TokenLogprobs, completion_logprobs, row_logprobs

    class Texts:
        def __call__(self, i):
            return (f"t{i}", [])

    tokens = [Token(7, TokenLogprobs(-0.5, ((7, -0.5), (3, -1.5)), True), 0), Token(3, TokenLogprobs(-2.0, (), True), 2)]
    out = completion_logprobs(Texts(), tokens)
    assert out["tokens"] == ["token_id:7", "token_id:3"]
    assert out["top_logprobs"] == [{"token_id:7": -0.5, "token_id:3": -1.5}, {"token_id:3": -2.0}]
    assert out["text_offset"] == [0, 2]
    import torch

    logits = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0]])  # (2, V)
    entries = row_logprobs(logits, 1.0, torch.tensor([-1.0, -2.0]), [AsTokenIds(1), 1])
    assert [e.as_ids for e in entries] == [True, False]
