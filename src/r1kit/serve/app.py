"""The OpenAI-compatible HTTP app over a continuous batcher, plus the chat page.

    app = create_app(batcher, tokenizer, model_name="runs/sft", api_key=None)   # batcher already started
    uvicorn.run(app)       # or r1kit.serve.server.serve(...), which loads the model and checks the port

Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (plain prompt: no chat
template, no forced think block), GET /health (status and batcher stats), GET / (the chat page).
For RL rollouts, as SGLang: POST /update_weights_from_disk {"model_path": dir} swaps in a checkpoint's
weights (Batcher.update_weights; answers once applied: {"success", "message", "num_paused_requests"},
400 with success false for a bad path or other shapes) and GET /get_model_info gives {"model_path",
"weight_version"}. With an api key, these and every /v1 route need `Authorization: Bearer <key>` (401 otherwise); / and /health
stay open. Every error is OpenAI's error object. Bodies over 10 MiB get 413: a declared
Content-Length is checked first, then the bytes actually read (a body without a length is counted
as it streams in, never buffered past the limit). A body that is not UTF-8, or holds a string that
is not (a lone surrogate escaped as "\\ud800", in any field), gets 400. A client that disconnects gets its streams
cancelled, streaming or not, so no batcher slot outlives its request.

The app does not own the batcher: whoever created it starts and closes it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from r1kit.errors import R1kitError
from r1kit.serve.generate import Run, check_room, submit
from r1kit.serve.logprobs import TokenTexts
from r1kit.serve.prompt import encode_chat
from r1kit.serve.protocol import APIError, check_text, parse_chat, parse_completion
from r1kit.serve.responses import chat_response, completion_response, stream_chat, stream_completion
from r1kit.serve.textstream import ChoiceText, hidden_token_ids

MAX_BODY_BYTES = 10 * 2**20
# A body declared or found over the limit is still read (and discarded) up to this size, so a client
# that sends it whole gets to read the 413 instead of a connection reset.
DRAIN_BYTES = 64 * 2**20
PAGE = Path(__file__).parent / "static" / "index.html"


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> dict:
    """The body as a JSON object, read with at most `limit` bytes kept in memory."""
    declared, drain = request.headers.get("content-length"), max(DRAIN_BYTES, limit)
    if declared is not None and (not declared.isdigit() or int(declared) > drain):
        raise APIError(413, f"request body over {limit} bytes", code="request_too_large")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > drain:
                break
    except ClientDisconnect:
        raise APIError(400, "the client disconnected while sending the body") from None
    if size > limit:
        raise APIError(413, f"request body over {limit} bytes", code="request_too_large")
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        raise APIError(400, f"request body is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise APIError(400, f"request body is not valid JSON: {e}"[:300]) from None
    if not isinstance(body, dict):
        raise APIError(400, "request body must be a JSON object")
    check_text(body, text)
    return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class RunResponse(StreamingResponse):
    """An SSE response that cancels its run however it ends: done, client gone, or never started."""

    def __init__(self, content, run: Run):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.run = run

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.run.cancel()


async def collect_unless_gone(request: Request, run: Run):
    """`run.collect()`, cancelled (and its streams with it) if the client disconnects first."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            await asyncio.sleep(0.1)  # the body was read already; nothing else is expected

    collect, watch = asyncio.create_task(run.collect()), asyncio.create_task(gone())
    try:
        await asyncio.wait({collect, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not collect.done():
            collect.cancel()
            run.cancel()
    if not collect.done():  # nobody will read this answer
        raise APIError(499, "client closed the request")
    return collect.result()


def _auth(api_key: str | None):
    expected = None if api_key is None else f"Bearer {api_key}".encode()

    async def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization", "").strip().encode()
        if not hmac.compare_digest(given, expected):
            what = "Incorrect API key provided." if given else "Missing API key: send 'Authorization: Bearer <key>'."
            raise APIError(401, what, code="invalid_api_key")

    return check


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse(e.body(), status_code=e.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse(APIError(e.status_code, str(e.detail)).body(), status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)  # Starlette still re-raises it after this, so uvicorn logs the traceback
    async def server_error(request: Request, e: Exception):
        return JSONResponse(APIError(500, f"internal error: {type(e).__name__}").body(), status_code=500)


def _weight_routes(app: FastAPI, batcher, model_name: str, api_key: str | None, max_body_bytes: int) -> None:
    """POST /update_weights_from_disk and GET /get_model_info (SGLang's names and bodies)."""
    router = APIRouter(dependencies=[Depends(_auth(api_key))])

    @router.post("/update_weights_from_disk")
    async def update_weights_from_disk(request: Request):
        body = await read_json(request, max_body_bytes)
        path = body.get("model_path")
        if not isinstance(path, str) or not path:
            return JSONResponse({"success": False, "message": "model_path must be a non-empty string"}, 400)
        try:
            await run_in_threadpool(batcher.update_weights, path)
        except R1kitError as e:
            return JSONResponse({"success": False, "message": str(e).splitlines()[0]}, 400)
        return {"success": True, "message": f"weights updated from {path} (version {batcher.weight_version})",
                "num_paused_requests": 0}

    @router.get("/get_model_info")
    async def get_model_info():
        return {"model_path": getattr(batcher, "model_path", None) or model_name,
                "weight_version": getattr(batcher, "weight_version", 0)}

    app.include_router(router)


def create_app(batcher, tokenizer, *, model_name: str, api_key: str | None = None, context: int | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The app serving `batcher` (a started r1kit.serve.batcher.Batcher, or anything with its API).

    model_name: the name /v1/models lists and requests may name. context: most prompt + completion
    tokens (default: batcher.context). api_key: None serves without authentication.
    """
    context = int(context or batcher.context)
    hidden = hidden_token_ids(tokenizer)
    token_texts = TokenTexts(tokenizer)
    created = int(time.time())
    app = FastAPI(title="r1kit serve", docs_url=None, redoc_url=None, openapi_url=None)
    _error_handlers(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_auth(api_key))])
    model_card = {"id": model_name, "object": "model", "created": created, "owned_by": "r1kit",
                  "max_model_len": context}

    def outputs(count: int, thinking: bool | None, stop: tuple[str, ...]) -> list[ChoiceText]:
        return [ChoiceText(tokenizer, thinking, list(stop), hidden) for _ in range(count)]

    def start(prompts: list[list[int]], sampling, outs: list[ChoiceText]) -> Run:
        texts = None if sampling.logprobs is None else token_texts
        return Run(submit(batcher, prompts, sampling, context), outs, texts)

    @v1.get("/models")
    async def models():
        return {"object": "list", "data": [model_card]}

    @v1.get("/models/{model_id:path}")
    async def model(model_id: str):
        if model_id != model_name:
            raise APIError(404, f"The model `{model_id}` does not exist.", param="model", code="model_not_found")
        return model_card

    @v1.post("/chat/completions")
    async def chat_completions(request: Request):
        params = parse_chat(await read_json(request, max_body_bytes), model_name)
        ids = await run_in_threadpool(encode_chat, params.messages, tokenizer, params.thinking)
        check_room([ids], params.sampling.max_tokens, context, "messages")
        outs = outputs(params.sampling.n, params.thinking, params.sampling.stop)
        run = start([ids], params.sampling, outs)
        if params.stream:
            return RunResponse(stream_chat(run, model_name, len(ids), params.include_usage), run)
        results = await collect_unless_gone(request, run)
        return chat_response(run, model_name, params.thinking, len(ids), results)

    @v1.post("/completions")
    async def completions(request: Request):
        params = parse_completion(await read_json(request, max_body_bytes), model_name)

        def encode(prompt):  # text gets the tokenizer's BOS, if it has one (as vLLM); ids are taken as given
            return prompt if isinstance(prompt, list) else tokenizer.encode(prompt, add_special_tokens=True)

        prompts = await run_in_threadpool(lambda: [encode(p) for p in params.prompts])
        check_room(prompts, params.sampling.max_tokens, context, "prompt")
        outs = outputs(len(prompts) * params.sampling.n, None, params.sampling.stop)
        run = start(prompts, params.sampling, outs)
        prompt_tokens = sum(len(p) for p in prompts)
        if params.stream:
            return RunResponse(stream_completion(run, model_name, prompt_tokens, params.include_usage), run)
        results = await collect_unless_gone(request, run)
        return completion_response(run, model_name, prompt_tokens, results)

    app.include_router(v1)
    _weight_routes(app, batcher, model_name, api_key, max_body_bytes)

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_name, **batcher.stats}

    page = PAGE.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    async def chat_page():
        return HTMLResponse(page)

    return app
