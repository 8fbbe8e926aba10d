"""Load: 64 requests, 16 at a time, a fifth malformed; every request answered, no slot or memory leaked."""

import gc
import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import MODEL, start_served, stop_served

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]
MALFORMED = [  # (path, body bytes)
    ("/v1/chat/completions", b"{broken"),
    ("/v1/chat/completions", json.dumps({"messages": [], "model": MODEL}).encode()),
    ("/v1/chat/completions", json.dumps({"messages": CHAT, "temperature": 9}).encode()),
    ("/v1/chat/completions", json.dumps({"messages": CHAT, "model": "nope"}).encode()),
    ("/v1/chat/completions", b'{"messages": "\xff"}'),
    ("/v1/completions", json.dumps({"prompt": 3}).encode()),
    ("/v1/completions", json.dumps({"prompt": "x", "max_tokens": -1}).encode()),
]
VALID = [
    ("/v1/chat/completions", {"messages": CHAT, "model": MODEL}),
    ("/v1/chat/completions", {"messages": CHAT, "stream": True, "stream_options": {"include_usage": True}}),
    ("/v1/chat/completions", {"messages": CHAT, "n": 2, "stop": ["answer"]}),
    ("/v1/chat/completions", {"messages": CHAT, "thinking": {"type": "disabled"}, "stream": True}),
    ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 20}),
]


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        pytest.skip("no /proc/self/status to read RSS from")


def one(http: httpx.Client, job) -> str:
    kind, path, body = job
    if kind == "bad":
        resp = http.post(path, content=body, headers={"Content-Type": "application/json"})
        error = resp.json().get("error", {})
        ok = 400 <= resp.status_code < 500 and {"message", "type", "param", "code"} <= set(error)
        return "bad:4xx" if ok else f"bad:unexpected {resp.status_code}"
    if body.get("stream"):
        with http.stream("POST", path, json=body) as resp:
            text = resp.read().decode()
        ok = resp.status_code == 200 and text.endswith("data: [DONE]\n\n") and '"finish_reason":"stop"' in text
        return "ok:stream" if ok else f"ok:unexpected {resp.status_code}"
    resp = http.post(path, json=body)
    choices = resp.json().get("choices", [])
    ok = resp.status_code == 200 and choices and all(c["finish_reason"] in ("stop", "length") for c in choices)
    return "ok:json" if ok else f"ok:unexpected {resp.status_code}"


def test_load(tokenizer):
    served = start_served(tokenizer, max_batch=8, max_queue=64)
    rng = random.Random(0)
    bad = [("bad", *MALFORMED[i % len(MALFORMED)]) for i in range(13)]
    jobs = bad + [("ok", *VALID[i % len(VALID)]) for i in range(64 - len(bad))]
    rng.shuffle(jobs)
    expected = Counter("bad:4xx" if k == "bad" else "ok:stream" if b.get("stream") else "ok:json" for k, _, b in jobs)
    try:
        with httpx.Client(base_url=served.url, timeout=30, limits=httpx.Limits(max_connections=16)) as http:
            for job in jobs[:8]:  # warm up: the first requests allocate what every later one reuses
                one(http, job)
            gc.collect()
            before = rss_mb()
            with ThreadPoolExecutor(16) as pool:
                results = Counter(pool.map(lambda job: one(http, job), jobs))
            gc.collect()
            growth = rss_mb() - before
            health = http.get("/health").json()
        stats = served.wait_idle()
        print(f"\nload: {dict(results)}; RSS growth {growth:.1f} MB; batcher {stats}")
        assert results == expected, results  # every valid one answered, every malformed one a 4xx error object
        assert health["status"] == "ok"  # still up
        assert (stats["active"], stats["queued"]) == (0, 0)
        assert growth < 100, f"RSS grew {growth:.0f} MB over 64 requests"
    finally:
        stop_served(served)
