"""Benchmark: aggregate tokens/s through the continuous Batcher at 1, 4 and 16 concurrent streams.

    python benchmarks/serve_batching.py                  # the demo's tiny gpt2 (n_embd 128, 4 layers)
    python benchmarks/serve_batching.py --arch qwen2     # tiny qwen2 (hidden 128, 4 layers, 4/2 heads)
    python benchmarks/serve_batching.py --stagger-ms 10  # streams arrive 10 ms apart and join one by one

Each stream: a random prompt of 16-32 tokens, --new-tokens tokens at T = 0.6, top-p 0.95, eos ignored
(no eos id), so every stream generates exactly --new-tokens. The clients are asyncio tasks calling
`Stream.aget` on one event loop, as the FastAPI handlers do. Aggregate tokens/s = all streams' tokens /
wall time from the first client's start to the last token; median over --repeats after one warm-up.
The "ratio" column is relative to 1 stream; the last column is the same prompts as one static batch
through RolloutEngine.generate (no server, no joins: the ceiling for this model and batch). Stream
counts are interleaved across repeats, so load drifts on a shared machine hit every row alike.
--stagger-ms makes stream i arrive i * stagger late (each joins the running batch: a prefill and a
cache merge); otherwise all arrive at once and are prefilled together. Use --threads 1 on a busy
machine: two intra-op threads competing with other jobs for two cores slow every step several-fold.
Random weights: this measures speed only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import torch

from r1kit.rollout import RolloutEngine, SamplingParams
from r1kit.serve.batcher import Batcher, Request


def build(arch: str):
    """The tiny random model of `arch` with r1kit's tokenizer, eos switched off so every stream runs full length."""
    from r1kit.models import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(arch, "tiny", tokenizer, seed=0).eval()
    model.generation_config.eos_token_id = None
    tokenizer.eos_token = None
    return model, tokenizer


async def run_streams(batcher: Batcher, prompts: list[list[int]], new_tokens: int,
                      stagger_s: float = 0.0) -> tuple[int, float]:
    async def one(i: int, prompt: list[int]) -> int:
        await asyncio.sleep(i * stagger_s)
        stream = batcher.submit(Request(prompt, max_tokens=new_tokens, temperature=0.6, top_p=0.95))
        n = 0
        while (chunk := await stream.aget()) is not None:
            n += len(chunk)
        return n

    start = time.perf_counter()
    counts = await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return sum(counts), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="gpt2", choices=["gpt2", "qwen2", "llama"])
    parser.add_argument("--streams", default="1,4,16")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stagger-ms", type=float, default=0.0,
                        help="stream i submits i * this late, so streams join a running batch one by one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stagger = args.stagger_ms / 1000
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # a sampled pad id makes gpt2 warn about a missing attention mask

    model, tokenizer = build(args.arch)
    vocab = model.get_input_embeddings().num_embeddings
    engine = RolloutEngine(model, tokenizer)
    params = SamplingParams(max_new_tokens=args.new_tokens, temperature=0.6, top_p=0.95)
    g = torch.Generator().manual_seed(0)
    counts = [int(s) for s in args.streams.split(",")]
    prompts = {n: [torch.randint(3, vocab, (int(torch.randint(16, 33, (1,), generator=g)),), generator=g).tolist()
                   for _ in range(n)] for n in counts}
    served = {n: [] for n in counts}
    offline = {n: [] for n in counts}
    steps = {n: 0 for n in counts}
    batcher = Batcher(model, tokenizer, max_batch=32, max_queue=64)
    batcher.start()
    try:
        for repeat in range(args.repeats + 1):  # repeat 0 warms up; counts interleaved so load drifts hit all
            for n in counts:
                before = batcher.stats["steps"]
                tokens, wall = asyncio.run(run_streams(batcher, prompts[n], args.new_tokens, stagger))
                start = time.perf_counter()
                rollout = engine.generate(prompts[n], params)
                offline_rate = int(rollout.completion_mask.sum()) / (time.perf_counter() - start)
                if repeat:
                    served[n].append(tokens / wall)
                    offline[n].append(offline_rate)
                    steps[n] += (batcher.stats["steps"] - before) / args.repeats
    finally:
        batcher.close()

    base = statistics.median(served[counts[0]])
    print(f"{args.arch} tiny, {args.new_tokens} new tokens per stream, T = 0.6, top-p 0.95, "
          f"{args.threads} threads, median of {args.repeats}, stagger {args.stagger_ms:g} ms\n")
    print("| streams | aggregate tok/s | per-stream tok/s | batched steps per run | ratio to 1 stream "
          "| offline RolloutEngine.generate tok/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        rate = statistics.median(served[n])
        print(f"| {n} | {rate:.0f} | {rate / n:.0f} | {steps[n]:.0f} | {rate / base:.2f}x "
              f"| {statistics.median(offline[n]):.0f} |")


if __name__ == "__main__":
    main()
