"""A fake OpenAI-compatible chat-completions server for tests: standard library only, 127.0.0.1, any free port.

    with FakeOpenAI(answer=lambda messages, j: ("think", f"answer {j}", "stop")) as fake:
        fake.url                    # "http://127.0.0.1:<port>/v1"
        fake.fail(429, times=2)     # the next two chat requests get 429 (fake.fail(401, times=None): always)
        ...                         # point the code under test at fake.url
        fake.chat_requests          # chat requests received: Received(method, path, headers, body)
        fake.max_in_flight          # most chat requests handled at once

It serves GET /v1/models and POST /v1/chat/completions, plain JSON or SSE (`"stream": true`: a keep-alive
comment, reasoning_content deltas, then content deltas, the choices interleaved, a finish_reason chunk per
choice, a usage chunk if stream_options.include_usage, then `data: [DONE]`).

The answer function gets the messages and a sample index j and returns (reasoning, content, finish_reason).
j = (seed or 0) + choice index, so a seeded request is reproducible, as on a real server with a seed. A
choice's completion_tokens is its number of whitespace-separated words (reasoning and content).

Behaviour knobs:
- `fail(kind, times=1, retry_after=None, body=None)` queues a fault for the next `times` chat requests
  (None: all from then on); faults are taken in the order queued. kind: an HTTP status (answered with an
  OpenAI error body, and a Retry-After header if given); "bad_json" (200 with broken JSON, or a broken SSE
  chunk); "truncated" (plain: the body cut before its Content-Length; streamed: no [DONE]); "raw" (200
  with `body` as given: as text/event-stream if it starts with "data:", else as JSON).
- `ignore_n` (one choice whatever n is, as DeepSeek's API); `reject_n` (400 "Invalid 'n'" for n > 1);
  `reasoning_key` ("reasoning_content", or "reasoning" as recent vLLM says); `usage` (False: no usage);
  `delay` (seconds each answer takes; stop() cuts it short); `models` (what /v1/models lists; other
  models get a 404).
- `requests` records every request; `chat_requests` only the chat ones.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import zip_longest


def default_answer(messages: list[dict], j: int) -> tuple[str, str, str]:
    """Reasoning that quotes the last message, and a content naming the sample index."""
    return f"Let me think about {messages[-1]['content']}.", f"The answer is {j}.", "stop"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: dict | None


@dataclass
class _Fault:
    kind: int | str
    times: int | None  # None: always
    retry_after: str | None
    body: bytes | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog of 5 drops bursts of connects: 1 s SYN retries


class FakeOpenAI:
    """A running fake endpoint; a context manager (start on enter, stop on exit)."""

    def __init__(self, answer=default_answer, *, models=("fake-model",), delay: float = 0.0,
                 ignore_n: bool = False, reject_n: bool = False, reasoning_key: str = "reasoning_content",
                 usage: bool = True):
        self.answer, self.models, self.delay = answer, list(models), delay
        self.ignore_n, self.reject_n, self.reasoning_key, self.usage = ignore_n, reject_n, reasoning_key, usage
        self.requests: list[Received] = []
        self.in_flight = self.max_in_flight = 0
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()  # wakes handlers that sleep in `delay` when the server stops
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # a short poll interval makes stop() quick (shutdown waits for the loop's next poll)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def fail(self, kind: int | str, times: int | None = 1, *, retry_after: str | None = None,
             body: bytes | None = None) -> None:
        """Queue a fault for the next `times` chat requests (None: every one from then on)."""
        with self._lock:
            self._faults.append(_Fault(kind, times, retry_after, body))

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- used by the handler threads ----

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            while self._faults:
                fault = self._faults[0]
                if fault.times is None:
                    return fault
                if fault.times > 0:
                    fault.times -= 1
                    return fault
                self._faults.pop(0)
            return None

    def _choices(self, body: dict) -> list[tuple[str, str, str]]:
        n = 1 if self.ignore_n else int(body.get("n", 1))
        seed = body.get("seed") or 0
        return [self.answer(body["messages"], seed + i) for i in range(n)]


def _words(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def _usage(choices) -> dict:
    tokens = sum(_words(r, c) for r, c, _ in choices)
    return {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to each small response

    def log_message(self, *args):  # quiet
        pass

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake

    def _record(self, body) -> None:
        with self.fake._lock:
            self.fake.requests.append(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                               body))

    def _send(self, status: int, payload: bytes, content_type="application/json", headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers=(), param=None) -> None:
        err = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
        self._send(status, json.dumps({"error": err}).encode(), headers=headers)

    def do_GET(self):
        self._record(None)
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no route {self.path}")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.fake.models]
        self._send(200, json.dumps({"object": "list", "data": data}).encode())

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self._record(body)
        fake = self.fake
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._chat(body)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (cancelled); fine
            self.close_connection = True
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _chat(self, body) -> None:
        fake = self.fake
        if self.path != "/v1/chat/completions":
            return self._error(404, f"no route {self.path}")
        if not isinstance(body, dict) or "messages" not in body:
            return self._error(400, "body must be JSON with messages")
        fault = fake._take_fault()
        if isinstance(getattr(fault, "kind", None), int):
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
            return self._error(fault.kind, f"{HTTPStatus(fault.kind).phrase} (injected)", headers)
        if body.get("model") not in fake.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist.", param="model")
        if fake.reject_n and body.get("n", 1) > 1:
            return self._error(400, "Invalid 'n': only n=1 is supported.", param="n")
        if fake._stopped.wait(fake.delay):
            return
        stream = bool(body.get("stream"))
        if fault is not None and fault.kind == "raw":
            sse = fault.body.lstrip().startswith((b"data:", b":"))
            return self._send(200, fault.body, "text/event-stream" if sse else "application/json")
        if stream:
            return self._stream(body, fault)
        payload = self._completion(body)
        if fault is not None and fault.kind == "bad_json":
            return self._send(200, payload[: len(payload) // 2].replace(b'"', b"'"))
        if fault is not None and fault.kind == "truncated":  # promises the whole body, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
            return
        self._send(200, payload)

    def _completion(self, body: dict) -> bytes:
        fake, choices = self.fake, self.fake._choices(body)
        out = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
               "choices": [{"index": i, "finish_reason": f,
                            "message": {"role": "assistant", "content": c, fake.reasoning_key: r or None}}
                           for i, (r, c, f) in enumerate(choices)]}
        if fake.usage:
            out["usage"] = _usage(choices)
        return json.dumps(out).encode()

    def _stream(self, body: dict, fault: _Fault | None) -> None:
        fake, choices = self.fake, self.fake._choices(body)
        events = [": keep-alive"]

        def chunk(choice_list, usage=None):
            obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                   "choices": choice_list, "usage": usage}
            return "data: " + json.dumps(obj)

        per_choice = []
        for i, (r, c, f) in enumerate(choices):
            deltas = [{"role": "assistant", "content": ""}]
            deltas += [{fake.reasoning_key: piece} for piece in re.findall(r"\S+\s*|\s+", r)]
            deltas += [{"content": piece} for piece in re.findall(r"\S+\s*|\s+", c)]
            steps = [chunk([{"index": i, "delta": d, "finish_reason": None}]) for d in deltas]
            per_choice.append(steps + [chunk([{"index": i, "delta": {}, "finish_reason": f}])])
        events += [e for group in zip_longest(*per_choice) for e in group if e is not None]
        if fake.usage and (body.get("stream_options") or {}).get("include_usage"):
            events.append(chunk([], _usage(choices)))
        events.append("data: [DONE]")
        if fault is not None and fault.kind == "truncated":
            events = events[: len(events) // 2]
        if fault is not None and fault.kind == "bad_json":
            events.insert(len(events) // 2, 'data: {"choices": [')
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")  # no Content-Length: the body ends when the connection does
        self.end_headers()
        self.close_connection = True
        for e in events:
            self.wfile.write((e + "\n\n").encode())
            self.wfile.flush()
