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
    ({"logprobs": True}, "logprobs"),
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
