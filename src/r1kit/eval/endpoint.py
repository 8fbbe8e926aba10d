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

Here: the HTTP side (client, concurrency, retries, the n fallback, capped body reading). Reading the
bodies -- choices, stream chunks, error messages, Retry-After -- is eval/openai_wire.py (with THINK_JOIN
and MAX_RETRY_AFTER_S); the parsers used here are imported from there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import random
from typing import Callable

import httpx

from r1kit.errors import R1kitError
from r1kit.eval.openai_wire import (_error_message, _names_n, _one_line, _parse_response, _Retry, _retry_after,
                                    _StreamParser)
from r1kit.rollout.evaluate import Completion  # noqa: F401  (also this module's public name)

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
MAX_BODY_BYTES = 256 << 20  # n = 64 samples of 32k tokens is ~10 MB of JSON


class EndpointError(R1kitError):
    """The endpoint cannot serve the run: unreachable, misconfigured, or failing after all retries."""


class _NRejected(Exception):
    """The server refuses n > 1."""


def retry_delay(attempt: int, backoff: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry `attempt` (0-based): Retry-After if given, else backoff * 2**attempt."""
    base = retry_after if retry_after is not None else min(MAX_BACKOFF_S, backoff * 2**attempt)
    return base + random.uniform(0, 0.25 * base)


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
