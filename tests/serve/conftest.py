"""Fixtures for the serving tests: r1kit's tokenizer, a live uvicorn server in a thread, a scripted batcher.

    with LiveServer(create_app(fake, tokenizer, model_name="fake")) as server:
        server.url                     # "http://127.0.0.1:<free port>"
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from tests.serve.fake_batcher import DEFAULT_SCRIPT, FakeBatcher

MODEL = "r1kit-fake"


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 (a free port bound up front), in a daemon thread."""

    def __init__(self, app):
        import uvicorn

        from r1kit.serve.server import bind

        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def record_streams(batcher) -> list:
    """Wrap `batcher.submit` so that every real stream it returns is kept (in the returned list, in order) with
    its request (`stream.request`) and the token ids pushed to it (`stream.ids`; a token pushed after a cancel
    is recorded too: compare prefixes)."""
    streams, submit = [], batcher.submit

    def spy(request):
        stream = submit(request)
        stream.request, stream.ids, push = request, [], stream._push

        def record(token, *args):
            stream.ids.append(token)
            push(token, *args)

        stream._push = record
        streams.append(stream)
        return stream

    batcher.submit = spy
    return streams


@contextlib.contextmanager
def tiny_live_server(model_dir):
    """A LiveServer over the real Batcher (max_batch 4) and the model at model_dir. Yields (server, batcher,
    tokenizer, streams); `streams` is record_streams' list. torch runs one intra-op thread meanwhile: on a small
    shared CPU, its default pool makes each step of a tiny model ~100x slower when run from the batcher's thread
    (the threads spin waiting on each other). The thread count is restored afterwards."""
    import torch

    from r1kit.models import load_model, load_tokenizer
    from r1kit.serve.app import create_app
    from r1kit.serve.batcher import Batcher

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = load_tokenizer(model_dir)
        batcher = Batcher(load_model(model_dir), tokenizer, max_batch=4, max_queue=16)
        streams = record_streams(batcher)
        batcher.start()
        try:
            with LiveServer(create_app(batcher, tokenizer, model_name="tiny")) as server:
                yield server, batcher, tokenizer, streams
        finally:
            batcher.close()
    finally:
        torch.set_num_threads(threads)


class Served:
    """A running server over a FakeBatcher; tests may change `fake.script` (reset for each test)."""

    def __init__(self, server: LiveServer, fake: FakeBatcher, api_key: str | None = None):
        self.server, self.fake, self.url = server, fake, server.url
        self.api_key = api_key

    def client(self, **kw):
        from openai import OpenAI

        kw = {"api_key": self.api_key or "unused", "max_retries": 0, "timeout": 20, **kw}
        return OpenAI(base_url=f"{self.url}/v1", **kw)

    def wait_idle(self, timeout: float = 5.0) -> dict:
        """The batcher's stats once nothing is active or queued (or after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.fake.stats
            if (stats["active"] == 0 and stats["queued"] == 0) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)


@pytest.fixture(scope="session")
def tokenizer():
    from r1kit.models import build_tokenizer

    return build_tokenizer()


def start_served(tokenizer, api_key=None, **fake_kw):
    from r1kit.serve.app import create_app

    fake = FakeBatcher(tokenizer, **fake_kw)
    fake.start()
    server = LiveServer(create_app(fake, tokenizer, model_name=MODEL, api_key=api_key)).__enter__()
    return Served(server, fake, api_key)


def stop_served(served: Served) -> None:
    served.server.__exit__(None, None, None)
    served.fake.close()


@pytest.fixture(scope="session")
def _shared(tokenizer):
    served = start_served(tokenizer)
    yield served
    stop_served(served)


@pytest.fixture
def served(_shared):
    """The shared server over a FakeBatcher, reset to the default script."""
    fake = _shared.fake
    fake.script, fake.fail_after = DEFAULT_SCRIPT, None
    fake.paused.set()
    yield _shared
    fake.paused.set()
    assert _shared.wait_idle()["active"] == 0, "a test left a batcher slot in use"
