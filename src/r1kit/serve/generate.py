"""One HTTP request's generations: submit the choices, turn their token streams into text events.

    streams = submit(batcher, prompts, sampling, context)      # APIError 429 / 400 before any byte is sent
    run = Run(streams, [ChoiceText(...) for _ in streams])
    async for event in run.events(): ...                      # Event(index, reasoning, content, finish, logprobs)
    run.cancel()                                               # idempotent; frees the batcher slots

Each choice has its own pump task (stream.aget -> ChoiceText -> queue); `events` merges them in
arrival order. Whatever way the consumer stops -- finished, stop string, client gone, server error --
`cancel` ends every stream, so its batcher row leaves at the next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from r1kit.serve.batcher import QueueFull, Request
from r1kit.serve.logprobs import PendingLogprobs, Token, TokenTexts
from r1kit.serve.protocol import APIError, Sampling
from r1kit.serve.textstream import ChoiceText

COALESCE_S = 0.02  # after a text event, wait this long for more tokens before the next (see Run._pump)


@dataclass(frozen=True)
class Event:
    index: int  # the choice
    reasoning: str = ""
    content: str = ""  # the answer (chat) or the text (completions)
    finish: str | None = None  # "stop" | "length" on a choice's last event
    error: str | None = None  # the generation failed; the response becomes an error
    logprobs: tuple[Token, ...] = ()  # tokens whose logprobs go out with this event (requests that asked)


def check_room(prompts: list[list[int]], max_tokens: int | None, context: int, param: str) -> None:
    """400 when a prompt leaves no room, or prompt + max_tokens exceeds the context (as OpenAI)."""
    for ids in prompts:
        if not ids:
            raise APIError(400, "the prompt is empty", param=param)
        if len(ids) >= context or (max_tokens is not None and len(ids) + max_tokens > context):
            asked = f" plus {max_tokens} completion tokens" if max_tokens is not None else ""
            raise APIError(400, f"This model's maximum context length is {context} tokens; the prompt has "
                           f"{len(ids)} tokens{asked}.", param=param, code="context_length_exceeded")


def submit(batcher, prompts: list[list[int]], sampling: Sampling, context: int) -> list:
    """Submit n choices per prompt (choice index = prompt index * n + j); all or none are submitted."""
    streams = []
    try:
        for ids in prompts:
            for _ in range(sampling.n):
                seed = None if sampling.seed is None else sampling.seed + len(streams)
                max_tokens = sampling.max_tokens or context - len(ids)
                request = Request(ids, max_tokens, sampling.temperature, sampling.top_p, seed, sampling.logprobs)
                streams.append(batcher.submit(request))
    except QueueFull:
        _cancel(streams)
        raise APIError(429, "The server is busy (request queue full); retry shortly.", code="rate_limit_exceeded",
                       type="rate_limit_error") from None
    except ValueError as e:
        _cancel(streams)
        raise APIError(400, str(e)) from None
    except BaseException:
        _cancel(streams)
        raise
    return streams


def _put(queue: asyncio.Queue, i: int, reasoning: str, content: str, pending: PendingLogprobs | None) -> None:
    """Reasoning and answer text as events, the reasoning first (a batch of tokens may hold both); the
    logprobs released with this text ride on the first of them."""
    if not (reasoning or content):
        return
    logprobs = pending.release(reasoning + content) if pending is not None else ()
    if reasoning:
        queue.put_nowait(Event(i, reasoning=reasoning, logprobs=logprobs))
        logprobs = ()
    if content:
        queue.put_nowait(Event(i, content=content, logprobs=logprobs))


def _cancel(streams: list) -> None:
    for stream in streams:
        stream.cancel()


def finish_reason(stream, out: ChoiceText) -> str:
    """OpenAI's finish_reason; raises RuntimeError for a failed (or externally cancelled) stream."""
    if out.stopped:
        return "stop"
    if stream.finish_reason in ("stop", "length"):
        return stream.finish_reason
    raise RuntimeError(stream.error or f"generation ended: {stream.finish_reason}")


class Run:
    """The choices of one request, consumed once through `events` (or `collect`).

    texts: set when the request asked for logprobs (events then carry them; responses format them).
    """

    def __init__(self, streams: list, outs: list[ChoiceText], texts: TokenTexts | None = None):
        self.streams, self.outs, self.texts = streams, outs, texts
        self.tasks: list[asyncio.Task] = []

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        _cancel(self.streams)

    async def _pump(self, i: int, queue: asyncio.Queue) -> None:
        """stream -> text events. After each event it waits COALESCE_S, so the tokens of the next few
        decode steps leave as one event (one SSE chunk, one socket write) instead of one per token:
        socket writes were 40% of the event loop's time at 16 streams, and the event loop shares the
        GIL with the decode loop. The first token is never delayed."""
        stream, out = self.streams[i], self.outs[i]
        pending = None if self.texts is None else PendingLogprobs(by_offset=out.splitter is None)
        try:
            while not out.stopped and (ids := await stream.aget()) is not None:
                reasoning, content = [], []
                for token_id in ids:
                    if pending is not None:  # its offset: the text decoded before it
                        pending.add(token_id, stream.logprobs[pending.count], out.text_chars)
                    r, c = out.feed(token_id)
                    reasoning.append(r)
                    content.append(c)
                    if out.stopped:  # a stop string: the batcher row can go now
                        stream.cancel()
                        break
                _put(queue, i, "".join(reasoning), "".join(content), pending)
                if not out.stopped and COALESCE_S:
                    await asyncio.sleep(COALESCE_S)
            _put(queue, i, *out.finish(), pending)
            rest = () if pending is None else pending.rest()
            queue.put_nowait(Event(i, finish=finish_reason(stream, out), logprobs=rest))
        except Exception as e:  # e.g. a failed stream or a tokenizer error; never leave `events` waiting
            queue.put_nowait(Event(i, error=f"generation failed: {e}"))

    async def events(self) -> AsyncIterator[Event]:
        """Events of all choices as they come; a choice's last one carries `finish` (or `error`)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._pump(i, queue)) for i in range(len(self.streams))]
        try:
            left = len(self.tasks)
            while left:
                event = await queue.get()
                left -= event.finish is not None or event.error is not None
                yield event
        finally:
            self.cancel()

    async def collect(self) -> tuple[list[str], list[str], list[str], list[list[Token]]]:
        """(reasoning, content, finish_reason, logprobs) per choice; APIError 500 if a generation failed."""
        n = len(self.streams)
        reasoning, content, finish = [""] * n, [""] * n, [""] * n
        logprobs: list[list[Token]] = [[] for _ in range(n)]
        try:
            async for e in self.events():
                if e.error is not None:
                    raise APIError(500, e.error)
                reasoning[e.index] += e.reasoning
                content[e.index] += e.content
                finish[e.index] = e.finish or finish[e.index]
                logprobs[e.index].extend(e.logprobs)
        finally:  # leaving an `async for` early does not close the generator
            self.cancel()
        return reasoning, content, finish, logprobs

    def usage(self, prompt_tokens: int) -> dict:
        completion = sum(out.completion_tokens for out in self.outs)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "completion_tokens_details": {"reasoning_tokens": sum(out.reasoning_tokens for out in self.outs)},
        }
