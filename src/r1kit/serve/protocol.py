"""OpenAI request bodies -> checked, typed parameters; every mistake becomes an OpenAI error object.

    params = parse_chat(body, served_name="runs/sft")     # raises APIError(400/404, ...)
    APIError(400, "`top_p` must be in (0, 1]", param="top_p").body()
    # {"error": {"message": ..., "type": "invalid_request_error", "param": "top_p", "code": None}}

Choices made here (documented in the serve docs):
- `model` may be omitted (or null): the one served model answers. Otherwise it must equal the served
  name exactly, as /v1/models lists it; any other name is a 404 `model_not_found`.
- Message content is a string or OpenAI's list of parts; only text parts are accepted, joined by "\\n"
  (as vLLM does). An assistant message may have null content. The last message must be the user's.
- Defaults follow the R1 usage recommendations: temperature 0.6, top_p 0.95. max_tokens (or its newer
  name max_completion_tokens, which wins) defaults to the room left in the context.
- `thinking: {"type": "disabled"}` (DeepSeek) or `chat_template_kwargs: {"enable_thinking": false}`
  (vLLM/Qwen) switches thinking off. `echo` is refused (not produced); other unknown fields are ignored.
- logprobs: chat takes `logprobs: true` and `top_logprobs` 0..20 (only with logprobs true), completions
  `logprobs` 0..5 (the number of alternatives); what they hold: serve/logprobs.py. Either endpoint takes
  vLLM's `return_tokens_as_token_ids: true`: the logprobs name tokens "token_id:<id>" (k as AsTokenIds).
- Every string of the body must be Unicode text: a lone surrogate ("\\ud800" in JSON) anywhere is a 400.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from r1kit.serve.logprobs import MAX_COMPLETION_LOGPROBS, MAX_TOP_LOGPROBS, AsTokenIds

DEFAULT_TEMPERATURE, DEFAULT_TOP_P = 0.6, 0.95  # DeepSeek-R1 model card, usage recommendations
MAX_CHOICES = 16  # n (times the number of prompts, for /v1/completions)
MAX_STOP = 4  # as OpenAI
ROLES = ("system", "developer", "user", "assistant")  # "developer" is OpenAI's newer name for system


class APIError(Exception):
    """An HTTP error with OpenAI's error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Sampling:
    max_tokens: int | None  # None: the room left in the context
    temperature: float
    top_p: float
    seed: int | None  # choice i samples with seed + i
    n: int
    stop: tuple[str, ...]
    logprobs: int | None = None  # None: not asked; k: each token's logprob and its k most likely alternatives


@dataclass(frozen=True)
class ChatParams:
    messages: list[dict]  # [{"role", "content": str}], roles checked
    thinking: bool
    sampling: Sampling
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class CompletionParams:
    prompts: list[str | list[int]]  # text, or token ids
    sampling: Sampling
    stream: bool
    include_usage: bool


def _bad(message: str, param: str | None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def _int(body: dict, name: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"`{name}` must be an integer, got {value!r:.40}", name)
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise _bad(f"`{name}` must be {bound}, got {value}", name)
    return value


def _number(body: dict, name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"`{name}` must be a number, got {value!r:.40}", name)
    return float(value)


def _flag(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"`{name}` must be true or false, got {value!r:.40}", name)
    return value


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"`{name}` must be an object", name)
    return value


# A JSON escape of a UTF-16 surrogate, paired or not: the only way a body that decoded as UTF-8 can hold one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def check_text(body: dict, raw: str) -> None:
    """400 for any string of the body (a key or a value, at any depth, known field or not) that is not
    Unicode text: JSON lets "\\ud800" escape a lone surrogate, which the tokenizer and the response writer
    cannot encode as UTF-8 (a 500 otherwise). param: the first such string's path, e.g. messages[0].content.

    raw: the body's text. Without a surrogate escape in it no string can hold one (the bytes were valid
    UTF-8), so ordinary requests are never walked.
    """
    if not _SURROGATE_ESCAPE.search(raw):
        return
    stack: list[tuple[str, object]] = [("", body)]
    while stack:  # depth-first, in document order; no recursion (JSON may nest deeply)
        path, value = stack.pop()
        if isinstance(value, str) and not _is_utf8(value):
            at = next(i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff")
            raise _bad(f"`{path or 'body'}` is not valid Unicode: a lone surrogate "
                       f"({ascii(value[at])}) at character {at} cannot be encoded as UTF-8", path or None)
        if isinstance(value, dict):
            for key in value:
                if not _is_utf8(key):
                    raise _bad(f"a key of `{path or 'body'}` is not valid Unicode (a lone surrogate)", path or None)
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_model(body: dict, served_name: str) -> None:
    model = body.get("model")
    if model is None:
        return
    if not isinstance(model, str):
        raise _bad("`model` must be a string", "model")
    if model != served_name:
        raise APIError(404, f"The model `{model}` does not exist; this server serves `{served_name}`.",
                       param="model", code="model_not_found")


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _bad("`stop` must be a string or a list of strings", "stop")
    if len(stops) > MAX_STOP:
        raise _bad(f"`stop` takes at most {MAX_STOP} sequences, got {len(stops)}", "stop")
    return tuple(s for s in stops if s)


def parse_sampling(body: dict, choices_per_n: int = 1, logprobs: int | None = None) -> Sampling:
    """The sampling fields shared by both endpoints; choices_per_n: prompts in the request; logprobs:
    the endpoint's own logprobs fields, parsed (`chat_logprobs`, `completion_logprobs`)."""
    max_tokens = _int(body, "max_tokens", 1)
    if body.get("max_completion_tokens") is not None:
        max_tokens = _int(body, "max_completion_tokens", 1)
    temperature = _number(body, "temperature", DEFAULT_TEMPERATURE)
    if not 0.0 <= temperature <= 2.0:
        raise _bad(f"`temperature` must be between 0 and 2, got {temperature}", "temperature")
    top_p = _number(body, "top_p", DEFAULT_TOP_P)
    if not 0.0 < top_p <= 1.0:
        raise _bad(f"`top_p` must be in (0, 1], got {top_p}", "top_p")
    n = _int(body, "n", 1, MAX_CHOICES) or 1
    if n * choices_per_n > MAX_CHOICES:
        raise _bad(f"at most {MAX_CHOICES} choices per request (prompts x n), got {n * choices_per_n}", "n")
    seed = _int(body, "seed", 0, 2**63 - 1)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("`user` must be a string", "user")
    return Sampling(max_tokens, temperature, top_p, seed, n, _stop(body), logprobs)


def chat_logprobs(body: dict) -> int | None:
    """Chat's `logprobs` (bool) and `top_logprobs` (0..20, needs logprobs true) -> k, or None: not asked."""
    top = _int(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if not _flag(body, "logprobs"):
        if top is not None:
            raise _bad("`top_logprobs` needs `logprobs` set to true", "top_logprobs")
        return None
    return _named(body, top or 0)


def completion_logprobs(body: dict) -> int | None:
    """Completions' `logprobs`: the number of alternatives, 0..5 (OpenAI's limit), or None: not asked."""
    k = _int(body, "logprobs", 0, MAX_COMPLETION_LOGPROBS)
    return None if k is None else _named(body, k)


def _named(body: dict, k: int) -> int:
    """k, as AsTokenIds(k) when the body sets vLLM's `return_tokens_as_token_ids` (tokens named by id)."""
    return AsTokenIds(k) if _flag(body, "return_tokens_as_token_ids") else k


def _stream(body: dict) -> tuple[bool, bool]:
    stream = _flag(body, "stream")
    include_usage = _flag(_object(body, "stream_options"), "include_usage")
    return stream, stream and include_usage


def _content(message: dict, i: int) -> str:
    content, param = message.get("content"), f"messages[{i}].content"
    if content is None and message["role"] == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad("only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", param)
            texts.append(part["text"])
        return "\n".join(texts)
    raise _bad("message content must be a string or a list of text parts", param)


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("`messages` must be a non-empty list", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad("each message must be an object with `role` and `content`", f"messages[{i}]")
        if m.get("role") not in ROLES:
            raise _bad(f"unsupported role {m.get('role')!r:.40}; use one of {', '.join(ROLES)}", f"messages[{i}].role")
        out.append({"role": m["role"], "content": _content(m, i)})
    if out[-1]["role"] != "user":
        raise _bad("the last message must be from the user", f"messages[{len(out) - 1}].role")
    return out


def _thinking(body: dict) -> bool:
    """False when either DeepSeek's or vLLM's switch turns thinking off."""
    thinking = _object(body, "thinking")
    kind = thinking.get("type", "enabled")
    if kind not in ("enabled", "disabled"):
        raise _bad("`thinking.type` must be \"enabled\" or \"disabled\"", "thinking")
    enable = _object(body, "chat_template_kwargs").get("enable_thinking", True)
    if not isinstance(enable, bool):
        raise _bad("`chat_template_kwargs.enable_thinking` must be true or false", "chat_template_kwargs")
    return kind == "enabled" and enable


def parse_chat(body: dict, served_name: str) -> ChatParams:
    check_model(body, served_name)
    messages = _messages(body)
    stream, include_usage = _stream(body)
    return ChatParams(messages, _thinking(body), parse_sampling(body, 1, chat_logprobs(body)), stream, include_usage)


def _prompts(body: dict) -> list[str | list[int]]:
    prompt = body.get("prompt")

    def is_ids(x) -> bool:
        return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)

    if isinstance(prompt, str) or is_ids(prompt):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) or is_ids(p) for p in prompt):
        return list(prompt)
    raise _bad("`prompt` must be a string, a list of strings, or (lists of) token ids", "prompt")


def parse_completion(body: dict, served_name: str) -> CompletionParams:
    check_model(body, served_name)
    prompts = _prompts(body)
    if body.get("echo"):
        raise _bad("`echo` is not supported by this server", "echo")
    stream, include_usage = _stream(body)
    sampling = parse_sampling(body, len(prompts), completion_logprobs(body))
    return CompletionParams(prompts, sampling, stream, include_usage)
