"""The wire format of OpenAI-compatible chat completions as eval/endpoint.py reads it: bodies in, Completions out.

    _parse_response(raw)                  # a non-streamed body (bytes) -> [Completion, ...] by choice index
    parser = _StreamParser()              # a streamed one: feed(line) per SSE line, True at data: [DONE]
    parser.completions()                  # -> [Completion, ...] by choice index
    _error_message(raw), _names_n(raw)    # an error body's message; whether a 400 is about `n`
    _retry_after(headers.get("retry-after"))   # seconds, or None

A choice's reasoning is its `reasoning_content`, else its `reasoning`; its text is reasoning +
THINK_JOIN + content (content alone without reasoning). Completion.tokens is usage.completion_tokens
split evenly over the choices (None without usage). A malformed body or chunk (bad JSON, wrong types,
no choices, an "error" object in a 200) raises _Retry, which the endpoint treats as transient. No httpx
here: the HTTP side (requests, retries, concurrency, capped body reading) is eval/endpoint.py, which
imports what it uses from here (`endpoint._names_n` etc. still resolve).
"""

from __future__ import annotations

import email.utils
import json
import re
import time

from r1kit.rollout.evaluate import Completion

MAX_RETRY_AFTER_S = 600.0  # a Retry-After longer than this is not honoured as given
THINK_JOIN = "\n</think>\n\n"  # r1kit's template opens <think> in the prompt; the scorer reads the rest


class _Retry(Exception):
    """A transient failure: wait and send the request again."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


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
