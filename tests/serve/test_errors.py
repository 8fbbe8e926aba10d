"""Every invalid request gets OpenAI's error object with the right status; the server keeps serving."""

import json
import socket

import httpx
import openai
import pytest

from tests.serve.conftest import MODEL

CHAT = [{"role": "user", "content": "hi"}]
OK = {"model": MODEL, "messages": CHAT}


def assert_error(resp, status, param="?"):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == ("invalid_request_error" if status != 429 else "rate_limit_error")
    if param != "?":
        assert error["param"] == param
    return error


@pytest.mark.parametrize("change, param", [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 0}, "n"),
    ({"n": 17}, "n"),
    ({"n": 1.5}, "n"),
    ({"seed": -1}, "seed"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": 5}, "stop"),
    ({"stream": "yes"}, "stream"),
    ({"user": 5}, "user"),
    ({"logprobs": 1}, "logprobs"),  # chat's logprobs is a flag; the number is top_logprobs
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 2.0}, "top_logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
    ({"logprobs": False, "top_logprobs": 0}, "top_logprobs"),
    ({"thinking": {"type": "maybe"}}, "thinking"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "messages[1].role"),
    ({"messages": [{"role": "user", "content": "word " * 600}]}, "messages"),  # longer than the context (512)
    ({"max_tokens": 510}, "messages"),  # prompt (6 tokens) + max_tokens over the context
    ({"model": 5}, "model"),
])
def test_invalid_chat_fields(served, change, param):
    resp = httpx.post(f"{served.url}/v1/chat/completions", json={**OK, **change})
    assert_error(resp, 400, param)


@pytest.mark.parametrize("body, param", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": [1, "a"]}, "prompt"),
    ({"prompt": [10**6]}, None),  # token id outside the vocabulary: the batcher's ValueError
    ({"prompt": "x", "echo": True}, "echo"),
    ({"prompt": ["a"] * 9, "n": 2}, "n"),
    ({"prompt": "x", "logprobs": 6}, "logprobs"),
    ({"prompt": "x", "logprobs": -1}, "logprobs"),
    ({"prompt": "x", "logprobs": True}, "logprobs"),
])
def test_invalid_completion_fields(served, body, param):
    resp = httpx.post(f"{served.url}/v1/completions", json={"model": MODEL, **body})
    assert_error(resp, 400, param)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"", b'{"temperature": NaN}',
                                     b"[" * 100_000, '{"model": "é"}'.encode("latin-1"), b'{"a": "\xff\xfe"}'])
def test_bodies_that_are_not_json_objects(served, content):
    resp = httpx.post(f"{served.url}/v1/chat/completions", content=content,
                      headers={"Content-Type": "application/json"})
    error = assert_error(resp, 400)
    if b"\xff" in content or b"\xe9" in content:
        assert "UTF-8" in error["message"]


LONE = "\ud800"
SURROGATES = [  # (endpoint, body fields, param): a lone surrogate in every kind of place
    ("chat", {"messages": [{"role": "user", "content": f"hi {LONE} there"}]}, "messages[0].content"),
    ("chat", {"messages": [{"role": "system", "content": "ok"}, {"role": "user", "content": [
        {"type": "text", "text": "fine"}, {"type": "text", "text": "\udfff"}]}]}, "messages[1].content[1].text"),
    ("chat", {"messages": CHAT, "stop": LONE}, "stop"),
    ("chat", {"messages": CHAT, "stop": ["ok", "a\udc00"]}, "stop[1]"),
    ("chat", {"messages": CHAT, "user": LONE}, "user"),
    ("chat", {"messages": CHAT, "model": LONE}, "model"),
    ("chat", {"messages": CHAT, "metadata": {"note": LONE}}, "metadata.note"),  # a field the server ignores
    ("chat", {"messages": CHAT, LONE: 1}, None),  # a key
    ("completions", {"prompt": LONE}, "prompt"),
    ("completions", {"prompt": ["fine", "x" + LONE]}, "prompt[1]"),
    ("completions", {"prompt": "a", "stop": [LONE]}, "stop[0]"),
    ("completions", {"prompt": "a", "user": "\udbff\udbff"}, "user"),  # two high halves are not a pair
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("endpoint, fields, param", SURROGATES)
def test_lone_surrogates_are_400_not_500(served, endpoint, fields, param, stream):
    """JSON can escape a lone surrogate ("\\ud800"); Python then holds a str UTF-8 cannot encode."""
    body = json.dumps({"model": MODEL, **fields, "stream": stream})  # ensure_ascii: the surrogate as an escape
    assert "\\ud" in body.lower()
    resp = httpx.post(f"{served.url}/v1/{endpoint.replace('chat', 'chat/completions')}", content=body,
                      headers={"Content-Type": "application/json"})
    error = assert_error(resp, 400, param)
    assert "surrogate" in error["message"]
    assert resp.headers["content-type"].startswith("application/json")


def test_paired_surrogates_are_text(served):
    """"\\ud83d\\ude00" is one character (U+1F600), escaped as JSON allows: accepted."""
    body = '{"messages": [{"role": "user", "content": "smile \\ud83d\\ude00"}], "stop": "\\ud83d\\ude00"}'
    resp = httpx.post(f"{served.url}/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert "😀" in served.fake.tokenizer.decode(served.fake.requests[-1].prompt_ids)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_raw_bodies_with_invalid_utf8_or_a_lone_surrogate_escape(served, path):
    for raw in [b'{"prompt": "\xed\xa0\x80", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
                b'{"prompt": "a\xc3", "messages": [{"role": "user", "content": "a\xc3"}]}']:
        error = assert_error(httpx.post(f"{served.url}{path}", content=raw), 400, None)
        assert "UTF-8" in error["message"]
    raw = b'{"prompt": "\\ud800", "messages": [{"role": "user", "content": "\\uD800"}]}'
    error = assert_error(httpx.post(f"{served.url}{path}", content=raw), 400)
    assert error["param"] in ("prompt", "messages[0].content") and "surrogate" in error["message"]


def test_unknown_model_is_404(served):
    with pytest.raises(openai.NotFoundError) as e:
        served.client().chat.completions.create(model="gpt-5", messages=CHAT)
    assert e.value.body["code"] == "model_not_found"
    assert_error(httpx.post(f"{served.url}/v1/completions", json={"model": "x", "prompt": "a"}), 404, "model")
    assert_error(httpx.get(f"{served.url}/v1/models/gpt-5"), 404)
    assert httpx.get(f"{served.url}/v1/models/{MODEL}").json()["id"] == MODEL


def test_unknown_route_and_method(served):
    assert_error(httpx.get(f"{served.url}/v1/nothing"), 404)
    assert_error(httpx.get(f"{served.url}/v1/chat/completions"), 405)


def test_big_body_through_the_client_is_413(served):
    with pytest.raises(openai.APIStatusError) as e:
        served.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x" * 11_000_000}])
    assert e.value.status_code == 413 and e.value.body["code"] == "request_too_large"


def test_declared_length_over_the_limit_is_refused_unread(served):
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000000\r\n\r\n{")
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413")


def test_chunked_body_is_counted_as_it_arrives(served):
    def body():
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(11):
            yield b"x" * 1_000_000
        yield b'"}]}'

    resp = httpx.post(f"{served.url}/v1/chat/completions", content=body(), timeout=30)
    assert_error(resp, 413)
    assert "content-length" not in {k.lower() for k in resp.request.headers}


def test_still_serving_after_errors(served):
    assert httpx.post(f"{served.url}/v1/chat/completions", json=OK).status_code == 200
    assert json.loads(httpx.get(f"{served.url}/health").text)["status"] == "ok"
