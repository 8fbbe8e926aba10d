"""POST /update_weights_from_disk over the real batcher and the tiny qwen2: greedy output follows the new
checkpoint, a bad checkpoint changes nothing, and a row in flight never decodes with mixed weights."""

import threading
import time

import httpx
import pytest
import torch

from tests.serve.conftest import LiveServer, record_streams

N = 16  # greedy tokens per request


@pytest.fixture(scope="module")
def checkpoints(tiny_model_dir, tmp_path_factory):
    """(old dir, new dir = old weights + noise, prompt ids, old greedy tokens, new greedy tokens)."""
    from r1kit.models import load_model, load_tokenizer, save_model

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_model(tiny_model_dir)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))
    new_dir = save_model(model, tokenizer, tmp_path_factory.mktemp("perturbed") / "qwen2")
    ids = tokenizer.encode("What is 2 + 3?")
    old, new = greedy(tiny_model_dir, ids), greedy(new_dir, ids)
    assert old != new and len(old) > 4 and len(new) > 4  # the test can tell the weights apart
    return tiny_model_dir, new_dir, ids, old, new


def greedy(model_dir, ids, n=N):
    """The checkpoint's own greedy tokens for `ids`, from a fresh batcher."""
    from r1kit.models import load_model, load_tokenizer
    from r1kit.serve.batcher import Batcher, Request

    batcher = Batcher(load_model(model_dir), load_tokenizer(model_dir))
    batcher.start()
    try:
        stream, out = batcher.submit(Request(prompt_ids=ids, max_tokens=n, temperature=0.0)), []
        while (tokens := stream.get(timeout=30)) is not None:
            out += tokens
        return out
    finally:
        batcher.close()


@pytest.fixture
def tiny(tiny_model_dir, one_thread):
    """A live server over a fresh Batcher (weight_version 0); `streams` records each request's token ids."""
    from r1kit.models import load_model, load_tokenizer
    from r1kit.serve.app import create_app
    from r1kit.serve.batcher import Batcher

    tokenizer = load_tokenizer(tiny_model_dir)
    batcher = Batcher(load_model(tiny_model_dir), tokenizer, model_path=str(tiny_model_dir))
    streams = record_streams(batcher)
    batcher.start()
    with LiveServer(create_app(batcher, tokenizer, model_name="tiny")) as server:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield http, batcher, streams
    batcher.close()


def complete(http, ids, max_tokens=N) -> list[int]:
    """Greedy /v1/completions for token ids; the JSON answer (the `tiny` fixture records the token ids)."""
    r = http.post("/v1/completions", json={"model": "tiny", "prompt": ids, "max_tokens": max_tokens,
                                           "temperature": 0})
    assert r.status_code == 200, r.text
    return r.json()


def test_update_switches_greedy_output_and_version(tiny, checkpoints):
    http, batcher, streams = tiny
    old_dir, new_dir, ids, old, new = checkpoints
    assert http.get("/get_model_info").json() == {"model_path": str(old_dir), "weight_version": 0}
    complete(http, ids)
    assert streams[-1].ids == old
    r = http.post("/update_weights_from_disk", json={"model_path": str(new_dir)})
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["num_paused_requests"] == 0
    assert http.get("/get_model_info").json() == {"model_path": str(new_dir), "weight_version": 1}
    complete(http, ids)
    assert streams[-1].ids == new
    assert http.post("/update_weights_from_disk", json={"model_path": str(old_dir)}).status_code == 200
    complete(http, ids)
    assert streams[-1].ids == old and http.get("/get_model_info").json()["weight_version"] == 2


def test_bad_path_or_shapes_400_and_old_weights_serve(tiny, checkpoints, tmp_path):
    from r1kit.models import new_model

    http, batcher, streams = tiny
    old_dir, _, ids, old, _ = checkpoints
    wider = new_model("qwen2", "tiny", tmp_path / "wider", seed=0, hidden_size=32, num_hidden_layers=2,
                      intermediate_size=128)
    for path, says in [(str(tmp_path / "missing"), "not found"), (str(wider), "shape"), ("", "model_path")]:
        r = http.post("/update_weights_from_disk", json={"model_path": path})
        assert r.status_code == 400 and r.json()["success"] is False and says in r.json()["message"], r.text
        assert "\n" not in r.json()["message"]
    assert http.get("/get_model_info").json() == {"model_path": str(old_dir), "weight_version": 0}
    complete(http, ids)
    assert streams[-1].ids == old


def test_row_in_flight_finishes_on_old_weights_queue_starts_on_new(tiny, checkpoints):
    """Decoding is held at a gate so the order is certain: row A runs, the update is posted, B arrives;
    B must queue and A must finish on the old weights before the swap, then B runs on the new ones."""
    http, batcher, streams = tiny
    _, new_dir, ids, old, new = checkpoints
    gate, decode_step = threading.Event(), batcher.engine.decode_step

    def held(state):
        gate.wait(30)
        return decode_step(state)

    batcher.engine.decode_step = held
    results = {}

    def call(name, fn):
        results[name] = fn()

    a = threading.Thread(target=call, args=("a", lambda: complete(http, ids)))
    a.start()
    wait_for(lambda: batcher.stats["active"] == 1)
    update = threading.Thread(target=call, args=("update", lambda: http.post(
        "/update_weights_from_disk", json={"model_path": str(new_dir)})))
    update.start()
    wait_for(lambda: batcher._update is not None)
    b = threading.Thread(target=call, args=("b", lambda: complete(http, ids)))
    b.start()
    wait_for(lambda: batcher.stats["queued"] == 1)
    time.sleep(0.2)
    assert batcher.stats["active"] == 1 and batcher.stats["queued"] == 1 and batcher.weight_version == 0
    gate.set()
    for thread in (a, update, b):
        thread.join(60)
    assert results["update"].status_code == 200, results["update"].text
    assert streams[0].ids == old  # not mixed: every token of A from the old weights
    assert streams[1].ids == new
    assert batcher.weight_version == 1


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
