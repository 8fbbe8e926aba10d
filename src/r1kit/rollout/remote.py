"""ServerEngine: the RolloutEngine contract over an OpenAI-compatible /v1/completions server (issue 11, item 4).

    engine = ServerEngine("http://127.0.0.1:8000", tokenizer)       # r1kit serve, SGLang or vLLM
    engine.preflight()                                              # R1kitError: unreachable / wrong model
    rollout = engine.generate(prompts, SamplingParams(n=8, temperature=1.0, max_new_tokens=256, seed=0))
    engine.update_weights("/runs/grpo/sync")                        # the server loads a HF folder from disk

Prompts are tokenised here (add_special_tokens=False, as RolloutEngine) and sent as token ids, one request
per prompt (n samples each, seed + prompt index * n so prompts never share a seed), in parallel. The server
answers with each token's id ("token_id:<id>", vLLM's `return_tokens_as_token_ids`; or SGLang's
`return_token_ids` list) and its logprob
log_softmax(logits / T) -- the same number RolloutEngine records -- so the Rollout is filled exactly as
RolloutEngine fills it (rollout/batch.Outputs.to_rollout): left-padded prompts, right-padded completions,
logp 0 where masked, texts decoded with special tokens kept and eos/pad stripped.

Weight reload (`kind`): "sglang" -- POST /update_weights_from_disk {"model_path"} (SGLang and `r1kit serve`);
"vllm" -- POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path", "is_checkpoint_format"}}
(vLLM started with VLLM_SERVER_DEV_MODE=1). See docs/server-rollouts.md.

Failures are R1kitError naming the URL and the cause: an unreachable server (one retry on a connection
error), an HTTP error, a timeout, an answer without token ids -- never a hang and never an empty rollout.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

from r1kit.errors import R1kitError
from r1kit.rollout.batch import Outputs, left_pad
from r1kit.rollout.stopping import eos_token_ids
from r1kit.rollout.types import Rollout, SamplingParams

KINDS = ("sglang", "vllm")
MAX_PARALLEL = 16  # requests in flight at once (one per prompt)


@dataclass
class ServedModel:
    """What the server says it serves: its name, and `config.max_position_embeddings` (the context, from
    /v1/models' max_model_len; 0 = unknown) for code that reads engine.model.config (rollout.sampler)."""

    name: str
    config: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(max_position_embeddings=0))


class ServerEngine:
    """Samples completions from an OpenAI-compatible server. `model`: the served model name to request
    (None: whichever the server serves, read by preflight); `kind`: how weights reload (KINDS);
    `eos_ids`: the ids that end a completion (default: the tokenizer's eos), stripped from texts."""

    def __init__(self, base_url: str, tokenizer, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, kind: str = "sglang", eos_ids: list[int] | None = None) -> None:
        import httpx

        if kind not in KINDS:
            raise R1kitError(f"unknown server kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.base_url, self.tokenizer, self.kind = base_url.rstrip("/"), tokenizer, kind
        self.model_name, self.model = model, None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers,
                                 timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self.eos_ids = sorted(eos_ids) if eos_ids is not None else eos_token_ids(None, tokenizer)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0))
        special = set(getattr(tokenizer, "all_special_ids", []))
        self._strip_ids = [i for i in {*self.eos_ids, self.pad_id} if i in special]

    # ---- HTTP ----
    def _request(self, method: str, path: str, retry: bool = True, **kw):
        """One HTTP call -> the parsed JSON body; R1kitError (URL and cause) for anything but a 2xx answer."""
        import httpx

        url = f"{self.base_url}{path}"
        for attempt in (0, 1):
            try:
                resp = self.http.request(method, path, **kw)
                break
            except (httpx.ConnectError, httpx.RemoteProtocolError) as e:  # e.g. restarting: one retry
                if attempt or not retry:
                    raise R1kitError(f"inference server {url} unreachable: {type(e).__name__}: {e}") from None
                time.sleep(1.0)
            except httpx.TimeoutException as e:
                raise R1kitError(f"inference server {url} timed out ({type(e).__name__})") from None
            except httpx.HTTPError as e:
                raise R1kitError(f"inference server {url} failed: {type(e).__name__}: {e}") from None
        if resp.status_code >= 400:
            raise R1kitError(f"inference server {url} answered HTTP {resp.status_code}: {_message(resp)}")
        try:
            return resp.json()
        except ValueError:
            raise R1kitError(f"inference server {url} answered HTTP {resp.status_code} with a body that is "
                             f"not JSON: {resp.text[:200]!r}") from None

    def preflight(self) -> None:
        """GET /v1/models: the server answers and serves `model` (when given); sets model_name and .model."""
        data = self._request("GET", "/v1/models").get("data") or []
        names = [m.get("id") for m in data if isinstance(m, dict)]
        if not names:
            raise R1kitError(f"inference server {self.base_url} lists no model at /v1/models")
        if self.model_name is not None and self.model_name not in names:
            raise R1kitError(f"inference server {self.base_url} serves {', '.join(map(str, names))}, "
                             f"not {self.model_name!r}")
        name = self.model_name or names[0]
        card = next(m for m in data if m.get("id") == name)
        self.model_name = name
        self.model = ServedModel(name, SimpleNamespace(max_position_embeddings=int(card.get("max_model_len") or 0)))

    def update_weights(self, model_path: str) -> dict:
        """Have the server load the Hugging Face folder `model_path` (a path the *server* can read); returns its
        answer. Blocks until loaded; a refusal or failure is an R1kitError naming the server and the cause."""
        if self.kind == "vllm":
            body = {"method": "reload_weights", "kwargs": {"weights_path": str(model_path), "is_checkpoint_format": True}}
            return self._request("POST", "/collective_rpc", json=body)
        out = self._request("POST", "/update_weights_from_disk", json={"model_path": str(model_path)})
        if isinstance(out, dict) and out.get("success") is False:  # SGLang answers 200 with success false
            raise R1kitError(f"inference server {self.base_url} could not load {model_path}: {out.get('message')}")
        return out

    # ---- generation ----
    def encode(self, prompts: list[str] | list[list[int]]) -> list[list[int]]:
        """Token ids per prompt (strings tokenised without special tokens; id lists used as given)."""
        if not prompts:
            raise R1kitError("generate needs at least one prompt")
        if isinstance(prompts[0], str):
            encoded = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        else:
            encoded = [[int(i) for i in p] for p in prompts]
        if any(len(p) == 0 for p in encoded):
            raise R1kitError("empty prompt: every prompt needs at least one token")
        return encoded

    def body(self, ids: list[int], params: SamplingParams, seed: int | None) -> dict:
        """The /v1/completions body for one prompt: token ids in, ids and logprobs of every token out."""
        body = {"prompt": ids, "n": params.n, "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                "top_p": params.top_p, "logprobs": 0, "stream": False,
                "return_tokens_as_token_ids": True,    # vLLM, r1kit serve: logprobs.tokens = "token_id:<id>"
                "return_token_ids": True,              # SGLang: choice.token_ids
                "skip_special_tokens": False,          # vLLM / SGLang: keep special tokens in the text
                "spaces_between_special_tokens": False,
                "include_stop_str_in_output": True,    # vLLM: keep the stop string (as RolloutEngine)
                "no_stop_trim": True}                  # SGLang: the same
        if self.model_name is not None:
            body["model"] = self.model_name
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        return body

    def generate(self, prompts: list[str] | list[list[int]], params: SamplingParams) -> Rollout:
        """params.n samples per prompt from the server, as a Rollout (B = P * n rows, a prompt's rows contiguous)."""
        encoded = self.encode(prompts)
        seeds = [None if params.seed is None else params.seed + i * params.n for i in range(len(encoded))]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(encoded))) as pool:
            answers = list(pool.map(lambda a: self._choices(*a, params),
                                    [(ids, self.body(ids, params, s)) for ids, s in zip(encoded, seeds)]))
        rows = [c for choices in answers for c in choices]                    # B = P * n
        width = max(len(ids) for ids, _, _ in rows)
        out = Outputs.empty(len(rows), width, self.pad_id, torch.device("cpu"))
        for r, (ids, logp, stopped) in enumerate(rows):
            out.ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            out.logp[r, : len(ids)] = torch.tensor(logp, dtype=torch.float32)
            out.end[r], out.stopped[r] = len(ids), stopped
        prompt_ids, prompt_mask = left_pad(encoded, self.pad_id)              # (P, Lp)
        expand = torch.arange(len(encoded)).repeat_interleave(params.n)       # (B,)
        prompt_index = expand.tolist()
        return out.to_rollout(prompt_ids[expand], prompt_mask[expand], prompt_index, self.tokenizer, self._strip_ids)

    def _choices(self, ids: list[int], body: dict, params: SamplingParams) -> list[tuple[list[int], list[float], bool]]:
        """POST one prompt; (token ids, logprobs, stopped) per choice in index order, checked."""
        resp = self._request("POST", "/v1/completions", json=body)
        choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
        url = f"{self.base_url}/v1/completions"
        if len(choices) != params.n:
            raise R1kitError(f"inference server {url} returned {len(choices)} choices, asked for {params.n}")
        return [_parse_choice(c, url, params.max_new_tokens) for c in choices]

    def close(self) -> None:
        self.http.close()


def _parse_choice(choice: dict, url: str, max_tokens: int) -> tuple[list[int], list[float], bool]:
    lp = choice.get("logprobs") or {}
    names, values = lp.get("tokens") or [], lp.get("token_logprobs") or []
    if not names or len(names) != len(values):
        raise R1kitError(f"inference server {url} returned a choice without token logprobs "
                         f"({len(names)} tokens, {len(values)} logprobs)")
    ids = choice.get("token_ids")  # SGLang's return_token_ids
    if all(isinstance(n, str) and n.startswith("token_id:") for n in names):
        ids = [int(n[len("token_id:"):]) for n in names]
    elif not (isinstance(ids, list) and len(ids) == len(names) and all(isinstance(i, int) for i in ids)):
        raise R1kitError(f"inference server {url} named tokens by text ({names[0]!r}) and sent no token_ids "
                         "for them: it must support return_tokens_as_token_ids or return_token_ids")
    if len(names) > max_tokens:
        raise R1kitError(f"inference server {url} returned {len(names)} tokens, more than max_tokens={max_tokens}")
    finish = choice.get("finish_reason")
    if finish not in ("stop", "length"):
        raise R1kitError(f"inference server {url} ended a choice with finish_reason {finish!r}")
    if any(not isinstance(v, (int, float)) for v in values):
        raise R1kitError(f"inference server {url} returned a token without a logprob")
    logp = [float(v) for v in values]
    return ids, logp, finish == "stop"


def _message(resp) -> str:
    """The error message of an OpenAI / FastAPI / SGLang error body, else the start of the text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip() or resp.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else err or body.get("message") or body.get("detail")
        if msg:
            return str(msg).splitlines()[0][:300]
    return str(body)[:200]
