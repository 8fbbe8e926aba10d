"""The request / stream side of `r1kit serve`'s continuous batcher: what a handler hands in and reads back.

    stream = batcher.submit(Request(prompt_ids=ids, max_tokens=128))   # serve/batcher.py; QueueFull when full
    while (tokens := stream.get()) is not None: ...    # or `await stream.aget()` in asyncio handlers
    stream.cancel()                                    # its row leaves the batch at the next step

Request: one completion's prompt and sampling settings. Stream: its tokens (and logprobs) in chunks,
thread-safe between the batcher's loop thread (`_push`, `_finish`) and one HTTP handler, sync or async.
wake_all: the loop wakes every asyncio waiter of a step with one call_soon_threadsafe per event loop.
The batcher itself (the loop, the KV cache, weight updates) is serve/batcher.py, which re-exports these
names. No torch here.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from r1kit.serve.logprobs import TokenLogprobs


class QueueFull(Exception):
    """`submit` found `max_queue` requests already waiting (the HTTP layer answers 429 / 503)."""


@dataclass
class Request:
    """One completion to generate."""

    prompt_ids: list[int]
    """Prompt token ids (the chat template already applied); at least one, fewer than `context`."""
    max_tokens: int
    """Most tokens to generate (the eos token counts); fewer if the context fills up first."""
    temperature: float = 0.6
    """Softmax temperature; 0 = greedy (argmax). R1's recommended 0.6 is the default."""
    top_p: float = 0.95
    """Nucleus sampling mass, in (0, 1]."""
    seed: int | None = None
    """Seed of the request's own torch.Generator: the same seed gives the same tokens."""
    logprobs: int | None = None
    """None: no logprobs (nothing is computed). k >= 0: each token's logprob and the k most likely
    alternatives (serve/logprobs.py), in `Stream.logprobs`."""


class Stream:
    """One request's output, consumed by one HTTP handler (sync or async).

    Tokens arrive in chunks: `get` / `aget` return every token generated since the last call (>= 1),
    then None once the request has finished and everything was read. The eos token, when generated,
    is delivered as the last token (as in a rollout); decode with skip_special_tokens to hide it.
    When the request asked for logprobs, `logprobs[i]` belongs to the i-th token delivered: it is
    appended under the same lock as its token, so it is there by the time the token is read.
    """

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.finish_reason: str | None = None  # "stop" | "length" | "cancelled" | "error"
        self.error: str | None = None
        self._cond = threading.Condition()
        self._pending: list[int] = []
        self.logprobs: list[TokenLogprobs] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def get(self, timeout: float | None = None) -> list[int] | None:
        """Next new tokens, or None once finished; raises TimeoutError if `timeout` s pass with neither."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending or self.finished, timeout):
                raise TimeoutError(f"no token within {timeout} s")
            return self._take()

    async def aget(self) -> list[int] | None:
        """`get` for asyncio handlers: waits on an asyncio.Event, no thread is blocked."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._pending or self.finished:
                    return self._take()
                waiter = (loop, asyncio.Event())
                self._waiters.append(waiter)
            try:
                await waiter[1].wait()
            finally:
                with self._cond:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def cancel(self) -> None:
        """End the stream now ("cancelled", unless it already ended); its row leaves at the next step."""
        self._finish("cancelled")

    # ---- the batcher's side ----
    def _take(self) -> list[int] | None:
        out, self._pending = self._pending, []
        return out or None

    def _push(self, token: int, finish_reason: str | None, wake: dict | None = None,
              logprobs: TokenLogprobs | None = None) -> None:
        """Deliver `token` (and its logprobs); with `wake` (a dict), asyncio waiters are collected there per
        event loop instead of woken one by one (`wake_all`: one cross-thread call per loop per step)."""
        with self._cond:
            if self.finished:  # cancelled meanwhile: the token is dropped
                return
            self._pending.append(token)
            if logprobs is not None:
                self.logprobs.append(logprobs)
            self.completion_tokens += 1
            self.finish_reason = finish_reason
            self._wake(wake)

    def _finish(self, reason: str, error: str | None = None) -> None:
        with self._cond:
            if not self.finished:
                self.finish_reason, self.error = reason, error
                self._wake()

    def _wake(self, wake: dict | None = None) -> None:
        self._cond.notify_all()
        collected = {} if wake is None else wake
        for loop, event in self._waiters:
            collected.setdefault(loop, []).append(event)
        self._waiters.clear()
        if wake is None:
            wake_all(collected)


def wake_all(waiters: dict) -> None:
    """Set the asyncio events {loop: [event, ...]}: one call_soon_threadsafe per event loop."""
    for loop, events in waiters.items():
        try:
            loop.call_soon_threadsafe(_set_all, events)
        except RuntimeError:  # that event loop is closed: nobody is waiting any more
            pass


def _set_all(events: list) -> None:
    for event in events:
        event.set()
