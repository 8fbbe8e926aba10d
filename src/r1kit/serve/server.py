"""`r1kit serve`: load a model, start its continuous batcher, and serve the app with uvicorn.

    serve("runs/sft", host="127.0.0.1", port=8000, api_key=None)
    # then: OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-"), or the chat page at http://127.0.0.1:8000/

The port is bound before the model loads, so a port already in use fails at once with a one-line
R1kitError; uvicorn then serves on that very socket (no window for another process to take it).

Chat requests are rendered with the checkpoint's own chat template. A checkpoint r1kit trained on the
R1-Zero (or a custom) prompt records that prompt there (r1kit.models.save_model), so it is served in
the form it learned with no flag; the start-up line names the recorded template.
"""

from __future__ import annotations

import errno
import socket
import sys

from r1kit.errors import R1kitError



def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (not yet listening); R1kitError if the port is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise R1kitError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a TIME_WAIT leftover is fine
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise R1kitError(f"port {port} on {host} is already in use: stop the server there or pick "
                             "another with --port") from None
        raise R1kitError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, *,
          model_name: str | None = None, dtype: str | None = None, device: str | None = None,
          max_batch: int = 32, max_queue: int = 64, context: int | None = None, threads: int = 0,
          log_level: str = "info") -> None:
    """Serve `model` (a local checkpoint dir or a hub name) until interrupted.

    model_name: the name clients send and /v1/models lists (default: `model` as given).
    dtype / device: default bfloat16 on CUDA, float32 on CPU. max_batch: rows decoded together;
    max_queue: requests waiting beyond that before 429. context: most prompt + completion tokens per
    request (default: the model's max_position_embeddings). threads: torch CPU threads (0: torch's
    default; tiny models decode fastest on 1, see benchmarks/README.md).
    """
    import torch
    import uvicorn

    from r1kit.data.templates import recorded_template
    from r1kit.models import load_model, load_tokenizer
    from r1kit.serve.app import create_app
    from r1kit.serve.batcher import Batcher

    sock = bind(host, port)  # before the model loads: a busy port fails in a second, not minutes
    if threads:
        torch.set_num_threads(threads)
    try:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        tokenizer = load_tokenizer(model)
        try:
            batcher = Batcher(load_model(model, dtype=dtype, device=device), tokenizer,
                              max_batch=max_batch, max_queue=max_queue, context=context, model_path=str(model))
        except ValueError as e:  # e.g. context beyond the model's positions
            raise R1kitError(str(e)) from None
        batcher.start()
        try:
            app = create_app(batcher, tokenizer, model_name=model_name or str(model), api_key=api_key)
            where = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
            recorded = recorded_template(getattr(tokenizer, "chat_template", None))
            prompt = f"the {recorded} prompt it was trained on" if recorded else "its chat template"
            print(f"r1kit serve: {model_name or model} on http://{where}:{port}/ (OpenAI API at /v1, "
                  f"context {batcher.context}, max batch {max_batch}{', api key required' if api_key else ''}; "
                  f"chat prompts: {prompt})", file=sys.stderr, flush=True)
            config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5)
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            batcher.close()
    finally:
        sock.close()
