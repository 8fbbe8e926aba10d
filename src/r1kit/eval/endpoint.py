"""Sampling from an OpenAI-compatible chat-completions endpoint: r1kit's server, vLLM, a hosted API.

    with EndpointBackend("http://127.0.0.1:8000/v1", "my-model") as backend:
        backend.check()                                    # fails fast if the server is down
        out = backend.generate([{"messages": [{"role": "user", "content": "2+2?"}], "n": 4,
                                 "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": 0}])
        out[0][0].text                                     # "<reasoning>\\n</think>\\n\\n<answer>"

How it runs: each generate() call runs one asyncio loop with one httpx.AsyncClient. `concurrency` workers
take the requests in input order, and every HTTP request holds one of `concurrency` slots while it runs
(its retry waits included), so the server never sees more than `concurrency` requests at once.
`on_done(i, completions)` runs on that loop's thread (the caller's thread), one call at a time.

n: a server that rejects n > 1 (a 400 whose error names `n`) or returns fewer choices than asked
(DeepSeek's API ignores n) gets the missing samples as n = 1 requests, sample j with seed `seed + j`,
so the samples differ and a seeded run stays reproducible.

Failures: connection errors, timeouts, 408, 429, 5xx and malformed bodies (bad JSON, a stream without
`data: [DONE]`, a body over MAX_BODY_BYTES) are retried after backoff * 2**attempt seconds (capped at
MAX_BACKOFF_S, plus up to 25% jitter) or the server's Retry-After. Any other status stops the run at
once with EndpointError: a wrong key or model must not retry for minutes. When one request fails for
good, the others in flight are cancelled (their connections closed) and generate() raises.

Left out: tool calls, logprobs, multimodal content, the legacy /completions API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import json
import logging
import os
import random
import re
import time
from typing import Callable

import httpx

from r1kit.errors import R1kitError
from r1kit.rollout.evaluate import Completion  # noqa: F401  (also this module's public name)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
MAX_RETRY_AFTER_S = 600.0  # a Retry-After longer than this is not honoured as given
MAX_BODY_BYTES = 256 << 20  # n = 64 samples of 32k tokens is ~10 MB of JSON
THINK_JOIN = "\n</think>\n\n"  # r1kit's template opens <think> in the prompt; the scorer reads the rest


class EndpointError(R1kitError):
    """The endpoint cannot serve the run: unreachable, misconfigured, or failing after all retries."""


class _Retry(Exception):
    """A transient failure: wait and send the request again."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _NRejected(Exception):
    """The server refuses n > 1."""


def _completion(reasoning: str, content: str, tokens: int | None, finish_reason: str) -> Completion:
    text = reasoning + THINK_JOIN + content if reasoning else content
    return Completion(text, reasoning, content, tokens, finish_reason)


def _str(x) -> str:
    if x is None:
        return ""
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {type(x).__name__}")
    return x


def _per_choice_tokens(usage, n_choices: int) -> int | None:
    total = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(total, int) or n_choices == 0:
        return None
    return round(total / n_choices)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _error_message(raw: bytes) -> str:
    """The message of an error body: OpenAI's {"error": {"message": ...}}, FastAPI's {"detail": ...}, or text."""
    text = raw.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return _one_line(text)
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        msg = err.get("message", err.get("detail")) if isinstance(err, dict) else err
        if msg is not None:
            return _one_line(msg if isinstance(msg, str) else json.dumps(msg))
    return _one_line(text)


def _names_n(raw: bytes) -> bool:
    """Whether a 400 body is about the `n` parameter ("n must be 1", "'n' is not supported", param "n")."""
    try:
        err = json.loads(raw.decode("utf-8", "replace")).get("error")
        if isinstance(err, dict) and err.get("param") == "n":
            return True
    except (ValueError, AttributeError):
        pass
    return re.search(r"(?<![\w'-])['\"`]?n['\"`]?(?![\w'-])", _error_message(raw)) is not None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def retry_delay(attempt: int, backoff: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry `attempt` (0-based): Retry-After if given, else backoff * 2**attempt."""
    base = retry_after if retry_after is not None else min(MAX_BACKOFF_S, backoff * 2**attempt)
    return base + random.uniform(0, 0.25 * base)


def _parse_response(raw: bytes) -> list[Completion]:
    """The choices of a non-streamed chat completion, by index. Raises _Retry if the body is malformed."""
    try:
        obj = json.loads(raw.decode("utf-8", "replace"))
        if obj.get("error"):
            raise _Retry(f"error in a 200 response: {_error_message(raw)}")
        choices = sorted(obj["choices"], key=lambda c: c.get("index", 0))
        tokens = _per_choice_tokens(obj.get("usage"), len(choices))
        out = []
        for c in choices:
            m = c["message"]
            reasoning = _str(m.get("reasoning_content")) or _str(m.get("reasoning"))
            out.append(_completion(reasoning, _str(m.get("content")), tokens, _str(c.get("finish_reason"))))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise _Retry(f"malformed response: {_one_line(str(e), 120)}") from None
    if not out:
        raise _Retry("malformed response: no choices")
    return out


class _StreamParser:
    """Accumulates SSE lines of a streamed chat completion: deltas per choice index, finish reasons, usage.

    feed(line) returns True at `data: [DONE]`; completions() then gives the choices by index. Each `data:`
    line is taken as one event (OpenAI-compatible servers never split one across lines).
    """

    def __init__(self):
        self.reasoning: dict[int, list[str]] = {}
        self.content: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.usage = None

    def feed(self, line: str) -> bool:
        if not line.startswith("data:"):
            return False  # blank separators, ": keep-alive" comments, event:/id: fields
        data = line[5:].strip()
        if data == "[DONE]":
            return True
        try:
            obj = json.loads(data)
            if obj.get("error"):
                raise _Retry(f"error in the stream: {_error_message(data.encode())}")
            for c in obj.get("choices") or []:
                i, delta = c.get("index", 0), c.get("delta") or {}
                if not isinstance(i, int):
                    raise TypeError(f"choice index {i!r}")
                self.reasoning.setdefault(i, []).append(
                    _str(delta.get("reasoning_content")) or _str(delta.get("reasoning")))
                self.content.setdefault(i, []).append(_str(delta.get("content")))
                if c.get("finish_reason"):
                    self.finish[i] = _str(c["finish_reason"])
            self.usage = obj.get("usage") or self.usage
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise _Retry(f"malformed stream chunk: {_one_line(str(e), 120)}") from None
        return False

    def completions(self) -> list[Completion]:
        if not self.content:
            raise _Retry("malformed stream: no choices")
        tokens = _per_choice_tokens(self.usage, len(self.content))
        return [_completion("".join(self.reasoning[i]), "".join(self.content[i]), tokens, self.finish.get(i, ""))
                for i in sorted(self.content)]


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Retry(f"malformed response: body over {MAX_BODY_BYTES} bytes")
    return bytes(body)


async def _lines(response: httpx.Response):
    """The body's lines, decoded as UTF-8 with replacement; at most MAX_BODY_BYTES in all."""
    buf, total = bytearray(), 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise _Retry(f"malformed stream: over {MAX_BODY_BYTES} bytes")
        buf += chunk
        if b"\n" in chunk:
            *lines, rest = buf.split(b"\n")
            buf = bytearray(rest)
            for line in lines:
                yield line.rstrip(b"\r").decode("utf-8", "replace")
    if buf:
        yield buf.decode("utf-8", "replace")


async def _all(coros) -> list:
    """Await every coroutine; on the first failure cancel the others, wait for them, and re-raise."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _reason(e: BaseException) -> str:
    return _one_line(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__, 200)


class EndpointBackend:
    """Chat completions from `{base_url}/chat/completions`, `concurrency` requests at a time, with retries.

    A sampler of rollout.evaluate: each request is independent (`whole_batches` False, so only missing
    samples are asked for), and a completion's text carries its own </think> (`think_open` False).
    """

    think_open = False
    whole_batches = False

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, concurrency: int = 8,
                 timeout: float = 600.0, max_retries: int = 6, backoff: float = 1.0, stream: bool = False,
                 extra_body: dict | None = None):
        try:
            ok = base_url.startswith(("http://", "https://")) and bool(httpx.URL(base_url).host)
        except httpx.InvalidURL:
            ok = False
        if not ok:
            raise EndpointError(f"endpoint URL must look like http://host:port/v1, got {base_url!r}")
        if concurrency < 1 or max_retries < 0:
            raise EndpointError(f"need concurrency >= 1 and max_retries >= 0, got {concurrency}, {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.model, self.concurrency, self.timeout = model, concurrency, timeout
        self.max_retries, self.backoff, self.stream = max_retries, backoff, stream
        self.extra_body = dict(extra_body or {})
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}  # kept out of repr and logs
        # a long generation may send nothing for minutes; a host that does not answer SYN should not take as long
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 30.0))
        self._warned_n = False

    def __enter__(self) -> EndpointBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is held between calls (each generate() opens and closes its own client)."""

    def check(self) -> None:
        """GET {base_url}/models once: raise EndpointError if it fails; warn if `model` is not listed."""
        where = f"endpoint {self.base_url} is not reachable"
        try:
            r = httpx.get(f"{self.base_url}/models", headers=self._headers, timeout=min(self.timeout, 30.0))
        except httpx.HTTPError as e:
            raise EndpointError(f"{where}: {_reason(e)}") from None
        if r.status_code != 200:
            hint = " (does the URL end with /v1?)" if r.status_code == 404 else ""
            raise EndpointError(f"endpoint {self.base_url}: GET /models returned {r.status_code}: "
                                f"{_error_message(r.content)}{hint}")
        try:
            ids = [m.get("id") for m in r.json()["data"]]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise EndpointError(f"{where}: GET /models did not return an OpenAI model list") from None
        if self.model not in ids:
            log.warning("model %r is not listed by %s (it lists %s); trying it anyway",
                        self.model, self.base_url, ", ".join(map(str, ids[:10])) or "none")

    def generate(self, requests: list[dict], on_done: Callable[[int, list[Completion]], None] | None = None
                 ) -> list[list[Completion]]:
        """The n completions of each request, in input order.

        requests[i]: {"messages", "n", "temperature", "top_p", "max_tokens", "seed" (int or None)}.
        on_done(i, completions) is called as request i finishes. Raises EndpointError when a request fails
        for good; the requests in flight are then cancelled.
        """
        if not requests:
            return []
        coro = self._generate(requests, on_done)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from a running loop (a notebook)
            return pool.submit(asyncio.run, coro).result()

    async def _generate(self, requests, on_done):
        results: list = [None] * len(requests)
        todo = iter(range(len(requests)))  # shared by the workers; safe, as they run on one thread
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(headers=self._headers, timeout=self._timeout, limits=limits) as client:

            async def worker():
                for i in todo:
                    results[i] = await self._complete(client, slots, requests[i])
                    if on_done is not None:
                        on_done(i, results[i])

            await _all(worker() for _ in range(min(self.concurrency, len(requests))))
        return results

    async def _complete(self, client, slots, req) -> list[Completion]:
        """All n samples of one request: one request for n, then n = 1 requests for whatever is missing."""
        n, seed = req["n"], req.get("seed")
        try:
            async with slots:
                got = (await self._post(client, self._body(req, n, seed)))[:n]
        except _NRejected:
            got = []
        if len(got) < n and not self._warned_n:
            self._warned_n = True
            log.warning("%s does not give n=%d samples per request; sending n=1 requests instead", self.base_url, n)

        async def single(j):
            async with slots:
                return (await self._post(client, self._body(req, 1, None if seed is None else seed + j)))[0]

        return got + await _all(single(j) for j in range(len(got), n))

    def _body(self, req: dict, n: int, seed: int | None) -> dict:
        body = {"model": self.model, "messages": req["messages"], "n": n, "temperature": req["temperature"],
                "top_p": req["top_p"], "max_tokens": req["max_tokens"], "stream": self.stream}
        if seed is not None:
            body["seed"] = seed
        if req.get("stop"):
            body["stop"] = list(req["stop"])
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        return {**body, **self.extra_body}

    async def _post(self, client, body) -> list[Completion]:
        """One request, retried on transient failures."""
        for attempt in range(self.max_retries + 1):
            try:
                return await self._attempt(client, body)
            except _Retry as e:
                last = e.reason
                if attempt == self.max_retries:
                    break
                delay = retry_delay(attempt, self.backoff, e.retry_after)
                log.warning("endpoint: %s; retry %d/%d in %.1f s", e.reason, attempt + 1, self.max_retries, delay)
                await asyncio.sleep(delay)
        raise EndpointError(f"endpoint {self.base_url} failed after {self.max_retries} retries: {last}")

    async def _attempt(self, client, body) -> list[Completion]:
        """One HTTP request. Raises _Retry (transient), _NRejected, or EndpointError (stop the run)."""
        try:
            async with client.stream("POST", f"{self.base_url}/chat/completions", json=body) as r:
                if not 200 <= r.status_code < 300:
                    self._raise_status(r.status_code, await _read_capped(r), r.headers, body["n"])
                if not self.stream or r.headers.get("content-type", "").startswith("application/json"):
                    return _parse_response(await _read_capped(r))  # a server may answer a stream request plainly
                parser = _StreamParser()
                async with contextlib.aclosing(_lines(r)) as lines:
                    async for line in lines:
                        if parser.feed(line):
                            return parser.completions()
                raise _Retry("malformed stream: it ended before data: [DONE]")
        except httpx.UnsupportedProtocol as e:
            raise EndpointError(f"endpoint {self.base_url}: {_reason(e)}") from None
        except httpx.RequestError as e:  # connection errors, timeouts, broken bodies
            raise _Retry(_reason(e)) from None

    def _raise_status(self, status: int, raw: bytes, headers, n: int):
        message = _error_message(raw) or httpx.codes.get_reason_phrase(status)
        if status in (408, 429) or status >= 500:
            raise _Retry(f"endpoint returned {status}: {message}", _retry_after(headers.get("retry-after")))
        if status == 400 and n > 1 and _names_n(raw):
            raise _NRejected(message)
        raise EndpointError(f"endpoint returned {status}: {message}")
