"""The OpenAI-compatible API against a live server (scripted batcher), through the official openai client."""

import json
import socket

import httpx
import pytest

from tests.serve.conftest import MODEL, start_served, stop_served
from tests.serve.fake_batcher import DEFAULT_SCRIPT

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]
REASONING = "Let me think: 2 + 3 = 5. Héllo 世界 😀."
ANSWER = "The answer is 5."


def reasoning_of(obj):
    return (obj.model_extra or {}).get("reasoning_content"), (obj.model_extra or {}).get("reasoning")


def test_models_and_health(served):
    assert [m.id for m in served.client().models.list()] == [MODEL]
    health = httpx.get(f"{served.url}/health").json()
    assert health["status"] == "ok" and health["model"] == MODEL and health["active"] == 0


def test_reasoning_and_content_are_split(served, tokenizer):
    resp = served.client().chat.completions.create(model=MODEL, messages=CHAT)
    message = resp.choices[0].message
    assert reasoning_of(message) == (REASONING, REASONING)
    assert message.content == ANSWER and message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop" and resp.object == "chat.completion"
    script = served.fake.script_ids([0])
    assert resp.usage.completion_tokens == len(script)  # the eos token counts, as the batcher counts it
    # the script's pieces are tokens of their own: reasoning, "\n</", "think", then ">" opens the next token
    n_reasoning = sum(len(tokenizer.encode(p, add_special_tokens=False)) for p in DEFAULT_SCRIPT[:3]) + 1
    assert resp.usage.completion_tokens_details.reasoning_tokens == n_reasoning
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_r1_defaults_and_prompt(served, tokenizer):
    served.client().chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<think>old reasoning</think>Hello", "reasoning_content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "2 + 3?"}]}])
    request = served.fake.requests[-1]
    assert tokenizer.decode(request.prompt_ids) == (
        "<|User|>Be brief.\n\nHi<|Assistant|>Hello<|endoftext|><|User|>2 + 3?<|Assistant|><think>\n")
    assert (request.temperature, request.top_p, request.seed) == (0.6, 0.95, None)
    assert request.max_tokens == served.fake.context - len(request.prompt_ids)  # the room left


def test_sampling_parameters_pass_through(served):
    resp = served.client().chat.completions.create(model=MODEL, messages=CHAT, n=2, temperature=0.0, top_p=0.5,
                                                   seed=7, max_completion_tokens=5, user="u1")
    assert [c.index for c in resp.choices] == [0, 1]
    assert [(r.temperature, r.top_p, r.seed, r.max_tokens) for r in served.fake.requests[-2:]] == [
        (0.0, 0.5, 7, 5), (0.0, 0.5, 8, 5)]
    assert all(c.finish_reason == "length" and c.message.content == "" for c in resp.choices)  # cut in reasoning


@pytest.mark.parametrize("switch", [{"thinking": {"type": "disabled"}},
                                    {"chat_template_kwargs": {"enable_thinking": False}}])
def test_thinking_off(served, tokenizer, switch):
    served.fake.script = ["Just five, <|pad|>no tags."]
    resp = served.client().chat.completions.create(model=MODEL, messages=CHAT, extra_body=switch)
    assert resp.choices[0].message.content == "Just five, no tags."
    assert reasoning_of(resp.choices[0].message) == (None, None)
    assert resp.usage.completion_tokens_details.reasoning_tokens == 0
    assert not tokenizer.decode(served.fake.requests[-1].prompt_ids).endswith("<think>\n")


def test_streaming(served):
    chunks = list(served.client().chat.completions.create(model=MODEL, messages=CHAT, stream=True,
                                                          stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    kinds = []
    for c in chunks[:-1]:
        (choice,) = c.choices
        if reasoning_of(choice.delta)[0]:
            assert reasoning_of(choice.delta)[0] == reasoning_of(choice.delta)[1]
            kinds.append("r")
        if choice.delta.content:
            kinds.append("c")
    assert "r" in kinds and "c" in kinds and kinds == sorted(kinds, reverse=True)  # all r strictly before c
    assert "".join(reasoning_of(c.choices[0].delta)[0] or "" for c in chunks[:-1]) == REASONING
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_framing(served):
    body = {"model": MODEL, "messages": CHAT, "stream": True, "n": 2}
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=body) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: ") for e in events[:-1])
    chunks = [json.loads(e[6:]) for e in events[:-2]]
    finishes = {c["choices"][0]["index"]: c["choices"][0]["finish_reason"] for c in chunks
                if c["choices"][0]["finish_reason"]}
    assert finishes == {0: "stop", 1: "stop"} and "usage" not in chunks[0]
    for i in (0, 1):
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"][0]["index"] == i)
        assert text == ANSWER


def test_stop_sequences(served):
    # a long tail after the stop string: the slot must be given back before the script could end on its own
    served.fake.script = ["reason with END in it", "</think>", "The ans", "wer E", "ND is here", " and on" * 500]
    resp = served.client().chat.completions.create(model=MODEL, messages=CHAT, stop=["zzz", "END"])
    assert resp.choices[0].message.content == "The answer "
    assert resp.choices[0].finish_reason == "stop"
    assert reasoning_of(resp.choices[0].message)[0] == "reason with END in it"  # stops apply to the answer only
    assert served.fake.streams[-1].finish_reason == "cancelled"  # the slot was given back early
    stream = served.client().chat.completions.create(model=MODEL, messages=CHAT, stop="END", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "The answer "


def test_completions_are_plain_text(served, tokenizer):
    served.fake.script = ["x</think>y", "<|endoftext|>"]
    client = served.client()
    resp = client.completions.create(model=MODEL, prompt="Once upon", max_tokens=50)
    assert resp.choices[0].text == "x</think>y" and resp.choices[0].finish_reason == "stop"
    assert tokenizer.decode(served.fake.requests[-1].prompt_ids) == "Once upon"
    text = "".join(c.choices[0].text for c in client.completions.create(model=MODEL, prompt=[5, 6], stream=True))
    assert text == "x</think>y"
    resp = client.completions.create(model=MODEL, prompt=["a", "b"], n=2, stop=["</think>"])
    assert [(c.index, c.text) for c in resp.choices] == [(i, "x") for i in range(4)]
    assert resp.usage.prompt_tokens == 2


def test_model_field_may_be_omitted(served):
    resp = httpx.post(f"{served.url}/v1/chat/completions", json={"messages": CHAT})
    assert resp.status_code == 200 and resp.json()["model"] == MODEL


def test_failed_generation(served):
    served.fake.fail_after = 3
    resp = httpx.post(f"{served.url}/v1/chat/completions", json={"messages": CHAT})
    assert resp.status_code == 500 and "scripted failure" in resp.json()["error"]["message"]
    raw = httpx.post(f"{served.url}/v1/chat/completions", json={"messages": CHAT, "stream": True}).text
    assert '"error"' in raw and raw.endswith("data: [DONE]\n\n")


def http_request(url: str, body: dict) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


@pytest.mark.parametrize("stream", [True, False])
def test_client_gone_frees_the_slot(served, stream):
    served.fake.script = ["word " * 2000]  # ~20 s of tokens at the fake's pace
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(http_request(served.url, {"messages": CHAT, "stream": stream}))
        if stream:
            received = b""
            while b"data: " not in received:  # the headers, then one chunk; then vanish
                received += sock.recv(4096)
        else:
            served.wait_idle(0.3)  # give it time to start generating
    stats = served.wait_idle()
    assert (stats["active"], stats["queued"]) == (0, 0)
    assert served.fake.streams[-1].finish_reason == "cancelled"


def test_queue_full_is_429(tokenizer):
    served = start_served(tokenizer, max_batch=1, max_queue=1)
    try:
        served.fake.paused.clear()  # nothing runs: the first request waits in the queue
        with httpx.Client(base_url=served.url, timeout=10) as http:
            with http.stream("POST", "/v1/chat/completions", json={"messages": CHAT, "stream": True}):
                resp = http.post("/v1/chat/completions", json={"messages": CHAT})
                assert resp.status_code == 429
                assert resp.json()["error"]["type"] == "rate_limit_error"
        served.fake.paused.set()
        assert served.wait_idle()["active"] == 0
    finally:
        stop_served(served)


def test_api_key(tokenizer):
    served = start_served(tokenizer, api_key="sekret")
    try:
        assert served.client().chat.completions.create(model=MODEL, messages=CHAT).choices[0].message.content
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekret"}):
            for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/v1/completions")):
                resp = httpx.request(method, served.url + path, headers=headers, json={"messages": CHAT})
                assert resp.status_code == 401, (headers, path)
                assert resp.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{served.url}/health").status_code == 200  # the page and health stay open
        assert httpx.get(f"{served.url}/").status_code == 200
    finally:
        stop_served(served)


@pytest.mark.parametrize("stream", [False, True])
def test_r1kit_eval_client_reads_the_split(served, stream):
    from r1kit.eval.endpoint import EndpointBackend

    request = {"messages": CHAT, "n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 100, "seed": 0}
    with EndpointBackend(f"{served.url}/v1", MODEL, stream=stream, max_retries=0) as backend:
        [[a, b]] = backend.generate([request])
    assert (a.reasoning, a.content, a.finish_reason) == (REASONING, ANSWER, "stop")
    assert a.text == f"{REASONING}\n</think>\n\n{ANSWER}" and b == a
