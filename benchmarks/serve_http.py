"""`r1kit serve` end to end: aggregate streamed tokens/s over HTTP at 1, 4 and 16 concurrent clients.

    r1kit serve --model DIR --port 8000 --threads 1 &       # any model r1kit serves
    python benchmarks/serve_http.py --url http://127.0.0.1:8000 [--tokens 128] [--repeats 3]

Each client streams one chat completion (`stream_options.include_usage`, T = 0.6, top-p 0.95,
`max_tokens` = --tokens) and counts the completion tokens the final usage chunk reports; aggregate
tokens/s = all clients' tokens / wall time from the first request to the last [DONE]. Unlike
serve_batching.py this includes the HTTP layer: JSON/SSE framing, incremental detokenisation, uvicorn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def stream_one(url: str, model: str, tokens: int, seed: int, seeded: bool = False) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": f"Tell me about the number {seed}."}],
            "max_tokens": tokens, "stream": True, "stream_options": {"include_usage": True}}
    if seeded:
        body["seed"] = seed
    used = 0
    with httpx.Client(timeout=300) as client, client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: {"):
                usage = json.loads(line[6:]).get("usage")
                used = usage["completion_tokens"] if usage else used
    return used


def run(url: str, model: str, clients: int, tokens: int, seeded: bool = False) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda i: stream_one(url, model, tokens, i, seeded), range(clients)))
    return total / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeded", action="store_true", help="every request carries a seed")
    args = ap.parse_args()
    model = httpx.get(f"{args.url}/v1/models").json()["data"][0]["id"]
    run(args.url, model, 1, 8)  # warm-up
    rates = {n: [] for n in (1, 4, 16)}
    for _ in range(args.repeats):  # interleaved, so load drifts hit every row alike
        for n in rates:
            rates[n].append(run(args.url, model, n, args.tokens, args.seeded))
    base = statistics.median(rates[1])
    print(f"{model}, {args.tokens} tokens per stream, {'seeded' if args.seeded else 'no seeds'}, "
          f"median of {args.repeats}\n")
    print("| concurrent streams | aggregate tok/s | ratio to 1 stream |\n|---:|---:|---:|")
    for n, r in rates.items():
        print(f"| {n} | {statistics.median(r):.0f} | {statistics.median(r) / base:.2f}x |")


if __name__ == "__main__":
    main()
