"""The `llm_judge` reward: an LLM behind an OpenAI-compatible endpoint rates the final answer (issue 10, stage 4).

The alternative to the Bradley-Terry reward model (r1kit.rewards.reward_model) for general prompts: instead
of training a preference model, ask a judge model (vLLM, `r1kit serve`, a hosted API) for a score.

    rewards: {per_type: 1.0}
    reward_options: {per_type: {weights: {general: {llm_judge: 1.0}},
                                options: {llm_judge: {base_url: "http://127.0.0.1:8001/v1", model: judge}}}}

What the judge sees (the R1 report, section 2.3.4: for general data only the final summary is judged): one
user turn, JUDGE_PROMPT filled with the prompt (example.problem) and the completion's final part -- the text
after its last </think> (`split_reasoning`, honouring ctx.think_open). Never the reasoning. It is asked at
temperature 0 for a helpfulness score 1..scale, on a last line "Score: N"; the reward is

    r = (N - 1) / (scale - 1)   in [0, 1]      (scale = 10: Score 1 -> 0.0, Score 7 -> 6/9, Score 10 -> 1.0)

`parse_score` takes the last "Score: N" of the reply; none, or N outside 1..scale, gives None (the reward
does not apply). A completion with no final part (reasoning never closed, or nothing after </think>) gets
`missing` without a request: None by default, as the reward model's reward does.

Failures: connection errors, timeouts, 408, 429, 5xx and malformed bodies are retried `max_retries` times
after backoff * 2**attempt seconds (or the server's Retry-After, capped at MAX_BACKOFF_S); other statuses
(401, 404) are not. A request that fails for good gives None and one warning per batch: the reward never
raises at scoring time. `llm_judge_preflight` (check_rewards(..., preflight=True)) GETs {base_url}/models
once, so a GRPO run against a dead judge stops before training instead of collecting None rewards.

How it runs: one httpx.Client, `concurrency` threads; identical (problem, final) pairs in a batch (a group's
equal answers) are asked once -- at temperature 0 the judge would answer them alike. Left out: streaming,
pairwise comparison, a reference answer (pipeline/judge.py's correctness judge has one).
"""

from __future__ import annotations

import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from r1kit.data.templates import split_reasoning
from r1kit.errors import R1kitError

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0

JUDGE_PROMPT = """You are rating how helpful an AI assistant's response is to a user's request.

Request:
{problem}

Response:
{response}

Rate the response from 1 (unhelpful, wrong or harmful) to {scale} (fully helpful, correct, clear and \
harmless). Explain briefly, then give your rating on the last line in the form "Score: N", N an integer \
from 1 to {scale}."""

_SCORE = re.compile(r"score\W{0,4}(\d+(?:\.\d+)?)", re.IGNORECASE)


def judge_prompt(problem: str, response: str, scale: int = 10) -> str:
    """The judge's user turn (JUDGE_PROMPT filled in)."""
    return JUDGE_PROMPT.format(problem=str(problem).strip(), response=response.strip(), scale=scale)


def parse_score(reply: str | None, scale: int = 10) -> float | None:
    """(N - 1) / (scale - 1) for the last "Score: N" in `reply` (any case, "**Score:** 7" too); None when
    there is none or N is outside [1, scale]."""
    found = _SCORE.findall(reply or "")
    if not found or scale < 2:
        return None
    n = float(found[-1])
    return (n - 1.0) / (scale - 1.0) if 1.0 <= n <= scale else None


class _Retry(Exception):
    """A transient failure; `wait` is the server's Retry-After in seconds, if it sent one."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


def _headers(api_key_env: str) -> dict:
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds; None for an HTTP date or junk (then the backoff applies)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _attempt(client, url: str, body: dict) -> str | None:
    """One POST; the reply's message content. Raises _Retry (transient) or RuntimeError (for good)."""
    import httpx

    try:
        r = client.post(url, json=body)
    except httpx.UnsupportedProtocol as e:  # "localhost:8000/v1": no retry mends it
        raise RuntimeError(str(e)) from None
    except httpx.RequestError as e:  # connection refused, timeouts, broken bodies
        raise _Retry(f"{type(e).__name__}: {e}") from None
    if r.status_code in (408, 429) or r.status_code >= 500:
        raise _Retry(f"endpoint returned {r.status_code}", _seconds(r.headers.get("retry-after")))
    if r.status_code != 200:
        raise RuntimeError(f"endpoint returned {r.status_code}: {r.text[:200]}")
    try:
        return r.json()["choices"][0]["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Retry("malformed response body") from None


def _ask(client, url: str, body: dict, max_retries: int, backoff: float) -> str | None:
    """The judge's reply, retried on transient failures; RuntimeError when it fails for good."""
    for attempt in range(max_retries + 1):
        try:
            return _attempt(client, url, body)
        except _Retry as e:
            if attempt == max_retries:
                raise RuntimeError(f"{e} (after {max_retries} retries)") from None
            time.sleep(min(e.wait if e.wait is not None else backoff * 2**attempt, MAX_BACKOFF_S))


def llm_judge_rewards(completions: list[str], examples: list, contexts: list, *, base_url: str = "",
                      model: str = "", api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512,
                      concurrency: int = 8, timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0,
                      scale: int = 10, missing: float | None = None) -> list[float | None]:
    """The batched reward (see the module docstring): (N - 1) / (scale - 1) per completion, in [0, 1].

    Options: base_url ("http://host:port/v1"), model (the judge), api_key_env (the variable holding the key;
    unset: no Authorization header), max_tokens (of the judge's reply), concurrency (requests at once),
    timeout (seconds per request), max_retries, backoff (seconds before the first retry), scale (the top
    score, >= 2), missing (the score without a final part; None: does not apply). Never raises."""
    finals = [split_reasoning(c, getattr(ctx, "think_open", False))[1] for c, ctx in zip(completions, contexts)]
    scores: list[float | None] = [None if f else missing for f in finals]
    asks: dict[tuple[str, str], list[int]] = {}  # (problem, final) -> rows; equal answers are asked once
    for i, f in enumerate(finals):
        if f:
            asks.setdefault((str(getattr(examples[i], "problem", "")), f), []).append(i)
    if not asks:
        return scores
    try:
        import httpx

        url = f"{base_url.rstrip('/')}/chat/completions"
        bodies = [{"model": model, "n": 1, "temperature": 0.0, "max_tokens": max_tokens, "stream": False,
                   "messages": [{"role": "user", "content": judge_prompt(p, f, scale)}]} for p, f in asks]
        limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
        with httpx.Client(headers=_headers(api_key_env), timeout=timeout, limits=limits) as client, \
                ThreadPoolExecutor(max(1, concurrency)) as pool:
            futures = [pool.submit(_ask, client, url, b, max_retries, backoff) for b in bodies]
            failed = []
            for rows, fut in zip(asks.values(), futures):
                try:
                    value = parse_score(fut.result(), scale)
                except Exception as e:  # noqa: BLE001 -- the reward contract: a failed request is None
                    failed.append(str(e))
                    value = None
                for i in rows:
                    scores[i] = value
        if failed:
            log.warning("llm_judge: %d of %d requests to %s failed (%s); those samples get None",
                        len(failed), len(bodies), base_url, failed[0])
    except Exception:  # the reward contract: never raise (a bad URL, an option of the wrong kind)
        log.exception("llm_judge: scoring failed; these samples get None")
        return [None if f else missing for f in finals]
    return scores


def llm_judge_reward(completion: str, example, ctx, *, base_url: str = "", model: str = "",
                     api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512, concurrency: int = 8,
                     timeout: float = 60.0, max_retries: int = 3, backoff: float = 1.0, scale: int = 10,
                     missing: float | None = None) -> float | None:
    """One completion's judge score (see `llm_judge_rewards`)."""
    return llm_judge_rewards([completion], [example], [ctx], base_url=base_url, model=model,
                             api_key_env=api_key_env, max_tokens=max_tokens, concurrency=concurrency,
                             timeout=timeout, max_retries=max_retries, backoff=backoff, scale=scale,
                             missing=missing)[0]


def llm_judge_preflight(options: dict) -> None:
    """Before a run: base_url and model are set, scale >= 2, and GET {base_url}/models answers 200
    (R1kitError otherwise); a model the endpoint does not list is only warned about."""
    import httpx

    base_url, model = str(options.get("base_url") or "").rstrip("/"), options.get("model")
    if not base_url or not model:
        raise R1kitError("llm_judge: set reward_options.llm_judge.base_url and .model (an OpenAI-compatible judge)")
    if int(options.get("scale", 10)) < 2:
        raise R1kitError(f"llm_judge: scale must be >= 2, got {options['scale']}")
    headers = _headers(options.get("api_key_env", "OPENAI_API_KEY"))
    try:
        r = httpx.get(f"{base_url}/models", headers=headers, timeout=min(float(options.get("timeout", 60.0)), 30.0))
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        cause = " ".join(str(e).split()) or type(e).__name__
        raise R1kitError(f"llm_judge: cannot reach {base_url}: {cause}") from None
    if r.status_code != 200:
        hint = " (does the URL end with /v1?)" if r.status_code == 404 else ""
        raise R1kitError(f"llm_judge: GET {base_url}/models returned {r.status_code}{hint}")
    try:
        ids = [m.get("id") for m in r.json()["data"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        ids = []
    if model not in ids:
        log.warning("llm_judge: model %r is not listed by %s; trying it anyway", model, base_url)
