"""EndpointBackend against the fake OpenAI-compatible server: wire format, n fallback, retries, limits."""

import logging
import socket
import threading
import time

import pytest

from r1kit.eval import endpoint
from r1kit.eval.endpoint import Completion, EndpointBackend, EndpointError
from tests.eval.fake_openai import FakeOpenAI


def req(question="2+2?", n=1, seed=0):
    return {"messages": [{"role": "user", "content": question}], "n": n, "temperature": 0.6, "top_p": 0.95,
            "max_tokens": 64, "seed": seed}


def backend(fake, **kw):
    kw = {"backoff": 0.01, "timeout": 10.0, **kw}
    return EndpointBackend(fake.url, "fake-model", **kw)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


# ---- wire format ----

def test_text_joins_reasoning_and_content(fake):
    [[c]] = backend(fake).generate([req("2+2?", seed=7)])
    assert c == Completion(text="Let me think about 2+2?.\n</think>\n\nThe answer is 7.",
                           reasoning="Let me think about 2+2?.", content="The answer is 7.", tokens=9,
                           finish_reason="stop")


def test_no_reasoning_means_text_is_content():
    with FakeOpenAI(answer=lambda m, j: ("", "just 4", "length"), usage=False) as fake:
        [[c]] = backend(fake).generate([req()])
    assert c == Completion(text="just 4", reasoning="", content="just 4", tokens=None, finish_reason="length")


@pytest.mark.parametrize("reasoning_key", ["reasoning_content", "reasoning"])
def test_stream_and_plain_give_identical_completions(reasoning_key):
    requests = [req("a?", n=3, seed=0), req("b?", n=1, seed=5)]
    with FakeOpenAI(reasoning_key=reasoning_key) as fake:
        plain = backend(fake).generate(requests)
        streamed = backend(fake, stream=True).generate(requests)
    assert streamed == plain
    assert [[c.content for c in cs] for cs in plain] == [[f"The answer is {j}." for j in (0, 1, 2)],
                                                        ["The answer is 5."]]
    assert plain[0][0].reasoning == "Let me think about a?."


def test_request_body(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend(fake, extra_body={"top_k": 20}).generate([req(seed=None)])
    backend(fake, stream=True).generate([req(seed=3)])
    plain, streamed = (r.body for r in fake.chat_requests)
    assert plain == {"model": "fake-model", "messages": [{"role": "user", "content": "2+2?"}], "n": 1,
                     "temperature": 0.6, "top_p": 0.95, "max_tokens": 64, "stream": False, "top_k": 20}
    assert streamed["stream"] is True and streamed["seed"] == 3
    assert streamed["stream_options"] == {"include_usage": True}
    assert "authorization" not in fake.chat_requests[0].headers


def test_api_key_from_env_is_sent_as_bearer(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    backend(fake).generate([req()])
    backend(fake, api_key="sk-arg").generate([req()])
    assert [r.headers["authorization"] for r in fake.chat_requests] == ["Bearer sk-env", "Bearer sk-arg"]
    assert "sk-env" not in repr(backend(fake))


@pytest.mark.parametrize("stream, raw", [
    (False, b'{"choices": [{"index": 0, "message": {"content": "caf\xc3 ok"}, "finish_reason": "stop"}]}'),
    (True, b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xc3 ok"}, "finish_reason": "stop"}]}\n\n'
           b"data: [DONE]\n\n"),
])
def test_invalid_utf8_is_replaced(fake, stream, raw):
    fake.fail("raw", body=raw)
    [[c]] = backend(fake, stream=stream).generate([req()])
    assert (c.content, c.finish_reason, c.tokens, len(fake.chat_requests)) == ("caf\ufffd ok", "stop", None, 1)


# ---- n ----

def test_n_samples_in_one_request(fake):
    [cs] = backend(fake).generate([req(n=4, seed=0)])
    assert [c.content for c in cs] == [f"The answer is {j}." for j in range(4)]
    assert [c.tokens for c in cs] == [9, 9, 9, 9]  # usage.completion_tokens / 4
    assert len(fake.chat_requests) == 1


@pytest.mark.parametrize("mode", ["ignore_n", "reject_n"])
def test_missing_samples_come_from_single_requests(mode, caplog):
    with FakeOpenAI(**{mode: True}) as fake:
        [cs] = backend(fake).generate([req(n=4, seed=10)])
        bodies = [r.body for r in fake.chat_requests]
    assert [c.content for c in cs] == [f"The answer is {j}." for j in range(10, 14)]
    first = [(4, 10)] if mode == "ignore_n" else [(4, 10), (1, 10)]  # a rejected request gives no sample
    expected = first + [(1, 11), (1, 12), (1, 13)]
    assert sorted((b["n"], b["seed"]) for b in bodies) == sorted(expected)
    assert "n=1 requests" in caplog.text


@pytest.mark.parametrize("body, about_n", [
    (b'{"error": {"message": "Unsupported value", "param": "n"}}', True),
    (b'{"error": {"message": "n must be 1"}}', True),
    (b'{"error": {"message": "Invalid \'n\': only n=1 is supported."}}', True),
    (b'{"detail": "`n` > 1 is not supported"}', True),
    (b'{"error": {"message": "max_tokens is too large; don\'t ask for n samples of it"}}', True),
    (b'{"error": {"message": "max_tokens is too large"}}', False),
    (b'{"error": {"message": "don\'t send an unknown field"}}', False),
    (b"Bad Request", False),
])
def test_rejection_of_n_is_recognised(body, about_n):
    assert endpoint._names_n(body) is about_n


def test_plain_answer_to_a_stream_request(fake):
    fake.fail("raw", body=b'{"choices": [{"index": 0, "message": {"content": "plain"}, "finish_reason": "stop"}]}')
    [[c]] = backend(fake, stream=True).generate([req()])
    assert c.content == "plain" and len(fake.chat_requests) == 1


# ---- retries ----

@pytest.mark.parametrize("kind, stream", [(429, False), (500, True), (503, False), ("bad_json", False),
                                          ("bad_json", True), ("truncated", False), ("truncated", True)])
def test_transient_failures_are_retried(fake, kind, stream):
    fake.fail(kind, times=2)
    [[c]] = backend(fake, stream=stream).generate([req(seed=1)])
    assert c.content == "The answer is 1."
    assert len(fake.chat_requests) == 3


@pytest.mark.parametrize("stream, raw", [
    (False, b"not json"), (False, b"[]"), (False, b'{"choices": []}'), (False, b'{"error": {"message": "oom"}}'),
    (False, b'{"choices": [{"message": {"content": 5}}]}'), (False, b"\xff\xfe\x00garbage"),
    (True, b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'),  # no [DONE]
    (True, b"data: [DONE]\n\n"), (True, b"data: nonsense\n\n"), (True, b'data: {"error": "overloaded"}\n\n'),
    (True, b'data: {"choices": [{"index": "0", "delta": {"content": "x"}}]}\n\ndata: [DONE]\n\n'),
])
def test_malformed_bodies_are_retried(fake, stream, raw):
    fake.fail("raw", body=raw)
    [[c]] = backend(fake, stream=stream).generate([req(seed=2)])
    assert c.content == "The answer is 2."
    assert len(fake.chat_requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_huge_body_is_an_endpoint_error(monkeypatch, stream):
    monkeypatch.setattr(endpoint, "MAX_BODY_BYTES", 1000)
    with FakeOpenAI(answer=lambda m, j: ("", "x " * 2000, "stop")) as fake:
        with pytest.raises(EndpointError, match="after 1 retries: malformed.*over 1000 bytes"):
            backend(fake, stream=stream, max_retries=1).generate([req()])


def test_retry_after_is_honoured(fake):
    fake.fail(429, retry_after="0.3")
    start = time.monotonic()
    backend(fake, backoff=0.001).generate([req()])
    assert time.monotonic() - start >= 0.3
    assert len(fake.chat_requests) == 2


def test_retries_exhausted(fake):
    fake.fail(500, times=None)
    with pytest.raises(EndpointError, match=r"after 2 retries: endpoint returned 500: Internal Server Error"):
        backend(fake, max_retries=2).generate([req()])
    assert len(fake.chat_requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_stop_at_once(fake, status):
    fake.fail(status, times=None)
    with pytest.raises(EndpointError, match=rf"^endpoint returned {status}: \w"):
        backend(fake).generate([req(n=4)])
    assert len(fake.chat_requests) == 1


def test_unknown_model_stops_at_once(fake):
    with pytest.raises(EndpointError, match="endpoint returned 404: The model `nope` does not exist."):
        EndpointBackend(fake.url, "nope").generate([req()])
    assert len(fake.chat_requests) == 1


def test_a_failure_cancels_the_requests_in_flight():
    with FakeOpenAI(delay=5.0) as fake:
        fake.fail(401)
        start = time.monotonic()
        with pytest.raises(EndpointError, match="401"):
            backend(fake, concurrency=4).generate([req(str(i)) for i in range(4)])
        assert time.monotonic() - start < 2.0  # the three slow requests were cancelled, not waited for


# ---- concurrency, order, callbacks ----

def test_concurrency_is_bounded_and_order_kept():
    def answer(messages, j):  # later questions answer sooner, so requests finish out of order
        q = int(messages[-1]["content"])
        time.sleep(0.02 + 0.01 * (10 - q))
        return "", f"answer to {q}", "stop"

    done, thread_ids = [], set()
    with FakeOpenAI(answer=answer) as fake:
        out = backend(fake, concurrency=3).generate(
            [req(str(i)) for i in range(10)],
            on_done=lambda i, cs: (done.append((i, cs[0].content)), thread_ids.add(threading.get_ident())))
        assert fake.max_in_flight == 3
    assert [cs[0].content for cs in out] == [f"answer to {i}" for i in range(10)]
    assert sorted(done) == [(i, f"answer to {i}") for i in range(10)]
    assert thread_ids == {threading.get_ident()}  # on_done runs on the caller's thread


def test_no_requests(fake):
    assert backend(fake).generate([]) == []
    assert fake.requests == []


# ---- check ----

def test_check(fake, caplog):
    backend(fake).check()
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        EndpointBackend(fake.url, "other").check()
    assert "'other' is not listed" in caplog.text and "fake-model" in caplog.text


def test_check_wrong_path(fake):
    with pytest.raises(EndpointError, match=r"returned 404: .*end with /v1"):
        EndpointBackend(fake.url.removesuffix("/v1"), "fake-model").check()


def test_check_server_down():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed; nothing listens there
    start = time.monotonic()
    with pytest.raises(EndpointError, match=rf"^endpoint http://127.0.0.1:{port}/v1 is not reachable: ConnectError"):
        EndpointBackend(f"http://127.0.0.1:{port}/v1", "m").check()
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "http://", "ftp://host/v1"])
def test_bad_url(url):
    with pytest.raises(EndpointError, match="must look like http://host:port/v1"):
        EndpointBackend(url, "m")
