"""Continuous batching for `r1kit serve`: concurrent requests share each forward pass.

    batcher = Batcher(model, tokenizer, max_batch=32)
    batcher.start()                                    # one background thread runs the loop
    stream = batcher.submit(Request(prompt_ids=ids, max_tokens=128))
    while (tokens := stream.get()) is not None: ...    # or `await stream.aget()` in asyncio handlers
    batcher.close()

A new request joins the running batch at the next step and a finished one leaves it, so 16 clients
share one decode forward instead of queueing behind each other. Each loop iteration:
  1. drop rows whose stream ended (cancelled, finished), and trim cache columns left all-padding;
  2. admit waiting requests while active < max_batch: one prefill forward over their left-padded
     prompts (RolloutEngine.prefill), then merge their KV cache into the running one (kv_merge);
  3. sample one token per row with the row's own temperature / top_p / generator;
  4. push each token to its stream; eos -> "stop", max_tokens or the context end -> "length";
  5. one RolloutEngine.decode_step for the rows still active.
The loop sleeps on a condition variable when there is nothing to do. An exception fails only the
streams it touched (a prefill: the arrivals; a decode step: the running batch) with finish_reason
"error"; the loop keeps serving. Not here: chunked prefill (a long prompt's prefill stalls the running
rows for one forward), paged KV (a join copies the running cache), prefix sharing between requests,
stop strings (the HTTP layer matches them and calls `Stream.cancel`). Imports torch only.

`update_weights(path)` swaps in a checkpoint's weights between steps, never under a running row: while
it is pending nothing is admitted (new requests queue), the running rows finish on the old weights,
then the weights change and the queue starts on the new ones. The tokenizer is kept.

Here: the Batcher and its loop. Request, Stream, QueueFull and wake_all -- the per-request side a handler
holds -- are in serve/stream.py; batcher re-exports them (`from r1kit.serve.batcher import Request` works).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import torch

from r1kit.rollout.batch import left_pad
from r1kit.rollout.engine import DecodeState, RolloutEngine
from r1kit.rollout.sampling import DRAWS, sample_tokens
from r1kit.serve.kv_merge import merge_states, trim_padding
from r1kit.serve.logprobs import TokenLogprobs, row_logprobs
from r1kit.serve.stream import QueueFull, Request, Stream, wake_all
from r1kit.serve.weights import load_checked

log = logging.getLogger(__name__)


@dataclass
class _Row:
    """A request in the running batch (or waiting for it)."""

    request: Request
    stream: Stream
    budget: int  # tokens it may generate: min(max_tokens, context - prompt length)
    generator: torch.Generator | None

    @property
    def left(self) -> int:
        return self.budget - self.stream.completion_tokens


@dataclass
class _Update:
    """A pending weight swap: the checked state_dict, set `done` once applied (or failed: `error`)."""

    path: str
    state_dict: dict
    done: threading.Event
    error: Exception | None = None


class Batcher:
    """Continuous batching over one model; see the module docstring for the loop.

    max_batch: most rows decoded together. max_queue: most requests waiting to join (then QueueFull).
    context: most prompt + completion tokens per request (default: the model's max_position_embeddings,
    else 2048). model_path: where the weights came from (reported by /get_model_info; update_weights sets it).
    """

    def __init__(self, model, tokenizer, *, max_batch: int = 32, max_queue: int = 64, context: int | None = None,
                 model_path: str | None = None):
        if max_batch < 1 or max_queue < 0:
            raise ValueError(f"need max_batch >= 1 and max_queue >= 0, got {max_batch}, {max_queue}")
        self.model, self.max_batch, self.max_queue = model, max_batch, max_queue
        self.engine = RolloutEngine(model, tokenizer)
        self.eos = frozenset(self.engine.eos_ids)
        limit = getattr(model.config, "max_position_embeddings", None)
        self.context = int(context or limit or 2048)
        if limit is not None and self.context > limit:
            raise ValueError(f"context {self.context} > the model's max_position_embeddings {limit}")
        self.vocab_size = model.get_input_embeddings().num_embeddings
        self._cond = threading.Condition()
        self._waiting: deque[_Row] = deque()
        self._rows: list[_Row] = []  # the running batch, aligned with the rows of self._state
        self._state: DecodeState | None = None
        self._closing = False
        self.model_path, self.weight_version = model_path, 0  # weight_version: +1 per applied update
        self._update: _Update | None = None
        self._update_lock = threading.Lock()  # one update at a time
        self._thread: threading.Thread | None = None
        self._counts = dict(steps=0, tokens=0, joins=0, leaves=0, prefills=0, errors=0)

    # ---- the HTTP layer's side ----
    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closing:
                return
            self.model.eval()
            self._thread = threading.Thread(target=self._loop, name="r1kit-batcher", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the loop (after the step in flight) and end every stream with "cancelled"."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._cond:
            rows, self._rows, self._state = self._rows + list(self._waiting), [], None
            self._waiting.clear()
            update, self._update = self._update, None
        for row in rows:
            row.stream._finish("cancelled")
        if update is not None:
            update.error = RuntimeError("the batcher closed before the weight update was applied")
            update.done.set()

    def submit(self, request: Request) -> Stream:
        """Queue `request`; it joins the running batch at the next step. Thread-safe."""
        budget = self._check(request)
        generator = None
        if request.seed is not None:
            generator = torch.Generator(device=self.engine.device).manual_seed(request.seed)
        row = _Row(request, Stream(len(request.prompt_ids)), budget, generator)
        with self._cond:
            if self._closing:
                raise RuntimeError("the batcher is closed")
            if len(self._waiting) >= self.max_queue:  # cancelled requests do not hold a place
                self._waiting = deque(r for r in self._waiting if not r.stream.finished)
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(f"{len(self._waiting)} requests are already waiting")
            self._waiting.append(row)
            self._cond.notify_all()
        return row.stream

    def update_weights(self, path) -> None:
        """Serve the weights of the checkpoint folder `path` from now on; blocks until they are in.

        Loaded and checked first (same model class, parameter names and shapes, else R1kitError and the
        old weights keep serving), then applied by the loop between decode steps once no row is active:
        model.load_state_dict(new, strict=True). weight_version += 1, model_path = path. Thread-safe.
        """
        state_dict = load_checked(self.model, str(path))
        with self._update_lock:
            update = _Update(str(path), state_dict, threading.Event())
            with self._cond:
                if self._closing:
                    raise RuntimeError("the batcher is closed")
                self._update = update
                self._cond.notify_all()
                started = self._thread is not None
            if not started:  # no loop: nothing is decoding
                self._apply_update(update)
            update.done.wait()
        if update.error is not None:
            raise update.error

    def _apply_update(self, update: _Update) -> None:
        """Copy the new weights in (the loop calls this with no row active); then wake the caller."""
        try:
            with torch.no_grad():
                self.model.load_state_dict(update.state_dict, strict=True)
        except Exception as e:  # checked before, so unexpected: the caller gets it
            log.exception("batcher: weight update")
            update.error = e
        with self._cond:
            if update.error is None:
                self.model_path, self.weight_version = update.path, self.weight_version + 1
            self._update = None
            self._cond.notify_all()
        update.done.set()

    @property
    def stats(self) -> dict:
        """Active rows, queued requests, and counters: steps (sampling steps over the batch), tokens
        generated, joins, leaves, prefills (forwards), errors; kv_len of the running cache."""
        with self._cond:
            state = self._state
            return dict(active=len(self._rows), queued=len(self._waiting), **self._counts,
                        kv_len=0 if state is None else state.kv_len)

    def _check(self, request: Request) -> int:
        n = len(request.prompt_ids)
        if n == 0:
            raise ValueError("empty prompt: at least one token is needed")
        if n >= self.context:
            raise ValueError(f"prompt of {n} tokens leaves no room in a context of {self.context}")
        if request.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {request.max_tokens}")
        if request.logprobs is not None and request.logprobs < 0:
            raise ValueError(f"logprobs must be >= 0, got {request.logprobs}")
        if request.temperature < 0 or not 0.0 < request.top_p <= 1.0:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {request.temperature}, {request.top_p}")
        if min(request.prompt_ids) < 0 or max(request.prompt_ids) >= self.vocab_size:
            raise ValueError(f"prompt token ids must be in [0, {self.vocab_size})")
        return min(request.max_tokens, self.context - n)

    # ---- the loop ----
    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                try:
                    self._drop_finished()  # (1)
                    arrivals = self._wait_for_work()
                    if arrivals is None:
                        return
                    self._step(arrivals)
                except Exception as e:  # a bug in the bookkeeping itself: fail everything, keep serving
                    log.exception("batcher loop")
                    self._fail(self._rows, e)
                    with self._cond:
                        self._rows, self._state = [], None

    def _wait_for_work(self) -> list[_Row] | None:
        """Sleep until there is a request, an active row or an update; pop the arrivals that fit. None:
        closing. A pending update admits nobody; once no row is active it is applied here."""
        with self._cond:
            while not (self._closing or self._waiting or self._rows or self._update):
                self._cond.wait()
            if self._closing:
                return None
            update = self._update
            if update is None:
                arrivals = []
                while self._waiting and len(self._rows) + len(arrivals) < self.max_batch:
                    row = self._waiting.popleft()
                    if not row.stream.finished:
                        arrivals.append(row)
                return arrivals
            if self._rows:  # the running rows finish on the old weights first
                return []
        self._apply_update(update)
        return []

    def _step(self, arrivals: list[_Row]) -> None:
        if arrivals:
            self._admit(arrivals)  # (2)
        if not self._rows:
            return
        try:
            self._sample_and_push()  # (3), (4)
            self._drop_finished()
            if self._rows:
                self.engine.decode_step(self._state)  # (5)
        except Exception as e:  # the running batch's cache may be half-written: fail all of it
            self._fail(self._rows, e)
            with self._cond:
                self._rows, self._state = [], None

    def _admit(self, arrivals: list[_Row]) -> None:
        """Prefill the arrivals together and merge them into the running batch."""
        extra = max(r.left for r in self._rows + arrivals)  # room for the longest remaining generation
        try:
            ids, mask = left_pad([r.request.prompt_ids for r in arrivals], self.engine.pad_id)  # (U, Lp)
            ids, mask = ids.to(self.engine.device), mask.to(self.engine.device)
            expand = torch.arange(len(arrivals), device=ids.device)  # (U,)
            # alone, the prefill's cache is the batch's; merging allocates its own slab
            new = self.engine.prefill(ids, mask, expand, extra=0 if self._rows else extra)
        except Exception as e:  # only the arrivals saw this forward
            self._fail(arrivals, e)
            return
        try:
            state = new if self._state is None else merge_states(self._state, new, extra)
        except Exception as e:  # the running cache may be consumed: fail both sides
            self._fail(self._rows + arrivals, e)
            with self._cond:
                self._rows, self._state = [], None
            return
        with self._cond:
            self._state, self._rows = state, self._rows + arrivals
            self._counts["joins"] += len(arrivals)
            self._counts["prefills"] += 1

    def _sample_and_push(self) -> None:
        """Sample a token per row (rows with equal settings together), push it (with its logprobs, for
        the rows that asked), mark ends."""
        state = self._state
        tokens = torch.empty(len(self._rows), dtype=torch.long, device=state.logits.device)  # (A,)
        logprobs: list[TokenLogprobs | None] = [None] * len(self._rows)
        for (temperature, top_p, seeded), idx in self._sampling_groups().items():
            index = torch.tensor(idx, device=tokens.device)  # (G,)
            logits = state.logits if len(idx) == len(self._rows) else state.logits[index]  # (G, V)
            u = None
            if seeded:  # each row's uniforms from its own generator: exactly what it would draw alone
                u = torch.cat([torch.rand(1, DRAWS + 1, generator=self._rows[i].generator, device=tokens.device)
                               for i in idx])  # (G, DRAWS + 1)
            tokens[index], logp = sample_tokens(logits, temperature, top_p, None, u)  # (G,), (G,)
            ks = [self._rows[i].request.logprobs for i in idx]
            for i, entry in zip(idx, row_logprobs(logits, temperature, logp, ks)):
                logprobs[i] = entry
        state.next_tokens = tokens
        with self._cond:  # counted before any client can see the tokens
            self._counts["steps"] += 1
            self._counts["tokens"] += len(self._rows)
        wake: dict = {}
        for row, token, entry in zip(self._rows, tokens.tolist(), logprobs):
            reason = "stop" if token in self.eos else "length" if row.left <= 1 else None
            row.stream._push(token, reason, wake, entry)
        wake_all(wake)

    def _sampling_groups(self) -> dict[tuple, list[int]]:
        """Row indices by (temperature, top_p, seeded): seeded rows draw their uniforms from their own
        generators, the others from torch's global one; greedy rows need no randomness and all go together."""
        groups: dict[tuple, list[int]] = {}
        for i, row in enumerate(self._rows):
            r = row.request
            key = (0.0, 1.0, False) if r.temperature == 0 else (r.temperature, r.top_p, row.generator is not None)
            groups.setdefault(key, []).append(i)
        return groups

    def _drop_finished(self) -> None:
        """Remove rows whose stream ended (finished or cancelled) and trim all-padding cache columns."""
        keep = [i for i, row in enumerate(self._rows) if not row.stream.finished]
        if len(keep) == len(self._rows):
            return
        state = self._state
        if keep:
            self.engine.compact(state, torch.tensor(keep, device=state.positions.device))
            trim_padding(state)
        with self._cond:
            self._counts["leaves"] += len(self._rows) - len(keep)
            self._rows = [self._rows[i] for i in keep]
            self._state = state if keep else None

    def _fail(self, rows: list[_Row], error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        log.error("batcher: %d request(s) failed: %s", len(rows), message)
        with self._cond:
            self._counts["errors"] += len(rows)
        for row in rows:
            row.stream._finish("error", message)
