"""OpenAI response bodies and SSE streams for chat and text completions, reasoning split out.

Chat responses carry the chain of thought as DeepSeek's API does for reasoning models:
`message.reasoning_content` (the text inside the think block) and `message.content` (the answer
after "</think>"), plus `message.reasoning`, the same text under recent vLLM's name. Streams send
`delta.reasoning_content` / `delta.reasoning` chunks first, then `delta.content` chunks:

    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}, ...}]}
    data: {... "delta": {"reasoning_content": "2 + 3", "reasoning": "2 + 3"} ...}
    data: {... "delta": {"content": "5"} ...}
    data: {... "delta": {}, "finish_reason": "stop"}
    data: {... "choices": [], "usage": {...}}          # only with stream_options.include_usage
    data: [DONE]

A generation that fails mid-stream sends `data: {"error": {...}}` and then `data: [DONE]`.

With logprobs asked for, each choice's `logprobs` is OpenAI's object (serve/logprobs.py: which tokens,
which distribution); streamed, a chunk carries the logprobs of the tokens released with its text (the
finish chunk those still held), `null` otherwise.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from r1kit.serve.generate import Event, Run
from r1kit.serve.logprobs import Token, TokenTexts, chat_logprobs, completion_logprobs
from r1kit.serve.protocol import APIError

DONE = "data: [DONE]\n\n"


def sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _header(kind: str, model: str) -> dict:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model}


def _logprobs(texts: TokenTexts | None, tokens, shape) -> dict | None:
    return None if texts is None else shape(texts, list(tokens))


def chat_response(run: Run, model: str, thinking: bool, prompt_tokens: int,
                  results: tuple[list[str], list[str], list[str], list[list[Token]]]) -> dict:
    reasoning, content, finish, logprobs = results
    choices = []
    for i in range(len(content)):
        thought = reasoning[i] if thinking else None
        message = {"role": "assistant", "content": content[i], "reasoning_content": thought, "reasoning": thought}
        choices.append({"index": i, "message": message, "logprobs": _logprobs(run.texts, logprobs[i], chat_logprobs),
                        "finish_reason": finish[i]})
    return {**_header("chat.completion", model), "choices": choices, "usage": run.usage(prompt_tokens)}


def completion_response(run: Run, model: str, prompt_tokens: int,
                        results: tuple[list[str], list[str], list[str], list[list[Token]]]) -> dict:
    _, text, finish, logprobs = results
    choices = [{"index": i, "text": text[i], "logprobs": _logprobs(run.texts, logprobs[i], completion_logprobs),
                "finish_reason": finish[i]} for i in range(len(text))]
    return {**_header("text_completion", model), "choices": choices, "usage": run.usage(prompt_tokens)}


def _chat_deltas(e: Event, texts: TokenTexts | None) -> list[dict]:
    """A choice's chunk bodies for one event: reasoning before content, even within one event; the
    event's logprobs on its first chunk."""
    deltas = []
    if e.reasoning:
        deltas.append({"reasoning_content": e.reasoning, "reasoning": e.reasoning})
    if e.content:
        deltas.append({"content": e.content})
    if e.finish:
        deltas.append({})
    out = [{"index": e.index, "delta": d, "logprobs": None, "finish_reason": None} for d in deltas]
    if out and e.finish:
        out[-1]["finish_reason"] = e.finish
    if out and e.logprobs:
        out[0]["logprobs"] = _logprobs(texts, e.logprobs, chat_logprobs)
    return out


def _text_deltas(e: Event, texts: TokenTexts | None) -> list[dict]:
    if not (e.content or e.finish):
        return []
    logprobs = _logprobs(texts, e.logprobs, completion_logprobs)
    return [{"index": e.index, "text": e.content, "logprobs": logprobs, "finish_reason": e.finish}]


async def stream_chat(run: Run, model: str, prompt_tokens: int, include_usage: bool) -> AsyncIterator[str]:
    header = _header("chat.completion.chunk", model)
    roles = [{"index": i, "delta": {"role": "assistant"}, "logprobs": None, "finish_reason": None}
             for i in range(len(run.streams))]
    async for chunk in _stream(run, header, prompt_tokens, include_usage, _chat_deltas, roles):
        yield chunk


async def stream_completion(run: Run, model: str, prompt_tokens: int, include_usage: bool) -> AsyncIterator[str]:
    header = _header("text_completion", model)
    async for chunk in _stream(run, header, prompt_tokens, include_usage, _text_deltas, []):
        yield chunk


async def _stream(run: Run, header: dict, prompt_tokens: int, include_usage: bool, deltas, first: list[dict]):
    usage_field = {"usage": None} if include_usage else {}
    try:
        for choice in first:
            yield sse({**header, "choices": [choice], **usage_field})
        async for event in run.events():
            if event.error is not None:
                yield sse(APIError(500, event.error).body())
                break
            for choice in deltas(event, run.texts):
                yield sse({**header, "choices": [choice], **usage_field})
        else:
            if include_usage:
                yield sse({**header, "choices": [], "usage": run.usage(prompt_tokens)})
        yield DONE
    finally:
        run.cancel()
