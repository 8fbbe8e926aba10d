"""A scripted stand-in for r1kit.serve.batcher.Batcher: the same API, tokens from a script, no model.

    fake = FakeBatcher(tokenizer, script=["2 + 3 = 5.", "\\n</", "think", ">\\n\\n", "The answer is 5."])
    fake.start(); app = create_app(fake, tokenizer, model_name="fake"); ...; fake.close()

Every request generates the script's pieces, each encoded on its own (so "</" "think" ">" puts the tag
across three tokens), then eos -- one token per step of a background thread, `step_s` apart, to at
most `max_batch` requests at once. script may also be a function of the decoded prompt. Knobs:
`paused` (a threading.Event: clear it and no step runs, so requests stay queued), `fail_after`
(tokens after which every stream fails with finish_reason "error"). `requests` records what was
submitted and `streams` the streams handed out. A request with `logprobs` k gets made-up logprobs
(`fake_logprobs`): the sampled token first with -0.1 * (its position + 1), then k - 1 neighbours.
"""

from __future__ import annotations

import asyncio
import threading
import time

from r1kit.serve.batcher import QueueFull, Request
from r1kit.serve.logprobs import TokenLogprobs

DEFAULT_SCRIPT = ["Let me think: 2 + 3 = 5. Héllo 世界 😀.", "\n</", "think", ">\n\n", "The answer is 5."]


class FakeStream:
    def __init__(self, prompt_tokens: int, tokens: list[int], budget: int, logprobs: int | None = None):
        self.prompt_tokens, self.completion_tokens = prompt_tokens, 0
        self.k, self.logprobs = logprobs, []
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.tokens, self.budget = tokens, budget
        self._lock = threading.Condition()
        self._pending: list[int] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def get(self, timeout: float | None = None) -> list[int] | None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._pending or self.finish_reason, timeout):
                raise TimeoutError
            out, self._pending = self._pending, []
            return out or None

    async def aget(self) -> list[int] | None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._pending or self.finish_reason:
                    out, self._pending = self._pending, []
                    return out or None
                event = asyncio.Event()
                self._waiters.append((loop, event))
            await event.wait()

    def cancel(self) -> None:
        self._end("cancelled")

    def _end(self, reason: str, error: str | None = None) -> None:
        with self._lock:
            if self.finish_reason is None:
                self.finish_reason, self.error = reason, error
                self._wake()

    def _push(self, token: int, reason: str | None) -> None:
        with self._lock:
            if self.finish_reason is None:
                self._pending.append(token)
                if self.k is not None:
                    self.logprobs.append(fake_logprobs(token, self.completion_tokens, self.k))
                self.completion_tokens += 1
                self.finish_reason = reason
                self._wake()

    def _wake(self) -> None:
        self._lock.notify_all()
        for loop, event in self._waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass
        self._waiters.clear()


def fake_logprobs(token: int, position: int, k: int) -> TokenLogprobs:
    logprob = -0.1 * (position + 1)
    top = [(token, logprob)] + [(token + j, logprob - j) for j in range(1, k)]
    return TokenLogprobs(logprob, tuple(top[:k]))


class FakeBatcher:
    def __init__(self, tokenizer, script=DEFAULT_SCRIPT, *, max_batch: int = 32, max_queue: int = 64,
                 context: int = 512, step_s: float = 0.001):
        self.tokenizer, self.script = tokenizer, script
        self.max_batch, self.max_queue, self.context, self.step_s = max_batch, max_queue, context, step_s
        self.fail_after: int | None = None
        self.paused = threading.Event()
        self.paused.set()  # set = running
        self.requests: list[Request] = []
        self.streams: list[FakeStream] = []
        self._waiting: list[FakeStream] = []
        self._active: list[FakeStream] = []
        self._lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-batcher")

    def script_ids(self, prompt_ids: list[int]) -> list[int]:
        script = self.script(self.tokenizer.decode(prompt_ids)) if callable(self.script) else self.script
        pieces = [script] if isinstance(script, str) else script
        ids = [t for piece in pieces for t in self.tokenizer.encode(piece, add_special_tokens=False)]
        return ids + [self.tokenizer.eos_token_id]

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing = True
        self.paused.set()
        self._thread.join(5)
        for stream in self._waiting + self._active:
            stream.cancel()

    def submit(self, request: Request) -> FakeStream:
        n = len(request.prompt_ids)
        if n == 0 or n >= self.context or request.max_tokens < 1:
            raise ValueError(f"bad request: {n} prompt tokens, max_tokens {request.max_tokens}")
        if max(request.prompt_ids) >= len(self.tokenizer) or min(request.prompt_ids) < 0:
            raise ValueError(f"prompt token ids must be in [0, {len(self.tokenizer)})")
        budget = min(request.max_tokens, self.context - n)
        stream = FakeStream(n, self.script_ids(request.prompt_ids), budget, request.logprobs)
        with self._lock:
            self._waiting = [s for s in self._waiting if s.finish_reason is None]
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(f"{len(self._waiting)} waiting")
            self._waiting.append(stream)
            self.requests.append(request)
            self.streams.append(stream)
        return stream

    @property
    def stats(self) -> dict:
        with self._lock:
            return {"active": len(self._active), "queued": len(self._waiting), "submitted": len(self.streams)}

    def _loop(self) -> None:
        while not self._closing:
            self.paused.wait()
            with self._lock:
                self._active = [s for s in self._active if s.finish_reason is None]
                self._waiting = [s for s in self._waiting if s.finish_reason is None]
                while self._waiting and len(self._active) < self.max_batch:
                    self._active.append(self._waiting.pop(0))
                active = list(self._active)
            for s in active:
                if self.fail_after is not None and s.completion_tokens >= self.fail_after:
                    s._end("error", "RuntimeError: scripted failure")
                    continue
                i = s.completion_tokens
                token = s.tokens[i] if i < len(s.tokens) else s.tokens[-1]
                last = i + 1 >= len(s.tokens)
                s._push(token, "stop" if last else "length" if i + 1 >= s.budget else None)
            time.sleep(self.step_s if active else 0.005)
