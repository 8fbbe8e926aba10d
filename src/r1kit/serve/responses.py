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
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from r1kit.serve.generate import Event, Run
from r1kit.serve.protocol import APIError

DONE = "data: [DONE]\n\n"


def sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _header(kind: str, model: str) -> dict:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model}


def chat_response(run: Run, model: str, thinking: bool, prompt_tokens: int,
                  results: tuple[list[str], list[str], list[str]]) -> dict:
    reasoning, content, finish = results
    choices = []
    for i in range(len(content)):
        thought = reasoning[i] if thinking else None
        message = {"role": "assistant", "content": content[i], "reasoning_content": thought, "reasoning": thought}
        choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": finish[i]})
    return {**_header("chat.completion", model), "choices": choices, "usage": run.usage(prompt_tokens)}


def completion_response(run: Run, model: str, prompt_tokens: int,
                        results: tuple[list[str], list[str], list[str]]) -> dict:
    _, text, finish = results
    choices = [{"index": i, "text": text[i], "logprobs": None, "finish_reason": finish[i]} for i in range(len(text))]
    return {**_header("text_completion", model), "choices": choices, "usage": run.usage(prompt_tokens)}


def _chat_deltas(e: Event) -> list[dict]:
    """A choice's chunk bodies for one event: reasoning before content, even within one event."""
    out = []
    if e.reasoning:
        out.append({"index": e.index, "delta": {"reasoning_content": e.reasoning, "reasoning": e.reasoning},
                    "logprobs": None, "finish_reason": None})
    if e.content:
        out.append({"index": e.index, "delta": {"content": e.content}, "logprobs": None, "finish_reason": None})
    if e.finish:
        out.append({"index": e.index, "delta": {}, "logprobs": None, "finish_reason": e.finish})
    return out


def _text_deltas(e: Event) -> list[dict]:
    if not (e.content or e.finish):
        return []
    return [{"index": e.index, "text": e.content, "logprobs": None, "finish_reason": e.finish}]


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
            for choice in deltas(event):
                yield sse({**header, "choices": [choice], **usage_field})
        else:
            if include_usage:
                yield sse({**header, "choices": [], "usage": run.usage(prompt_tokens)})
        yield DONE
    finally:
        run.cancel()
