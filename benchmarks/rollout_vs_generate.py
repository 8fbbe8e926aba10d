"""Benchmark: r1kit's RolloutEngine against transformers' `model.generate` on the same random model.

    python benchmarks/rollout_vs_generate.py                 # 4.1M Qwen2 (hidden 256, 4 layers, vocab 512)
    python benchmarks/rollout_vs_generate.py --also-25m      # and the 25.4M shape (hidden 512, 8 layers)
    python benchmarks/rollout_vs_generate.py --dtype bfloat16   # both sides on the model cast to bf16

Both sample with T = 1.0, top-p = 0.95 (no top-k) in --dtype (fp32 by default) with a KV cache, from the same
model object, and are timed in the same process,
interleaved (generate, rollout, generate, ...) after one warm-up each; the table shows the median generated
tokens/s over --repeats. Scenarios:
  independent  for each of --batches (default 1, 8, 32, 128): that many prompts of random length in
               [prompt-len/4, prompt-len/2] (left-padded), 1 sample each
  shared       --prompts prompts of --prompt-len tokens, --n samples each (generate: num_return_sequences)
  early-stop   as `independent`, but 16 of the 512 ids are eos, so rows end at scattered lengths
               (tokens/s counts tokens up to and including each row's eos)
In the first two, eos is ignored by both so every row runs --new-tokens steps. The rollout side also
decodes texts (generate does not); the "ablation" column turns off the feature the scenario exercises
(prompt sharing / early-stop compaction). Random weights, random prompt ids: this measures speed only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from r1kit.errors import R1kitError
from r1kit.rollout import RolloutEngine, SamplingParams

SHAPES = {256: (4, 2, 1024), 512: (8, 4, 1536)}  # hidden -> heads, kv heads, intermediate (the shapes TRL's GRPO step was timed on)
VOCAB = 512
N_EOS = 16


def build(hidden: int, layers: int, seed: int = 0):
    """A random fp32 Qwen2 (tied embeddings) and a 512-token byte-level BPE tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    heads, kv, inter = SHAPES.get(hidden, (max(1, hidden // 64), max(1, hidden // 128), 4 * hidden))
    config = Qwen2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv, intermediate_size=inter, vocab_size=VOCAB,
                         tie_word_embeddings=True, max_position_embeddings=1024)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).float().eval()
    model.generation_config.eos_token_id = None
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["A conversation between User and Assistant. The answer is 12345."] * 50, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>")
    return model, tokenizer


def random_prompts(count: int, lo: int, hi: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(lo, hi + 1, (count,), generator=g).tolist()
    return [torch.randint(2, VOCAB, (n,), generator=g).tolist() for n in lengths]


def run_generate(model, pad_id, prompts, n, new_tokens, eos, seed) -> int:
    """transformers generate on the model's device, left-padded batch; returns the number of generated tokens
    that count."""
    width = max(map(len, prompts))
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=model.device)  # (P, Lp)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=model.device)  # (P, Lp)
    torch.manual_seed(seed)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=0.95, top_k=0,
                         max_new_tokens=new_tokens, num_return_sequences=n, pad_token_id=pad_id,
                         eos_token_id=eos or None)[:, width:]  # (P * n, <= N)
    if not eos:
        return out.numel()
    is_eos = torch.isin(out, torch.tensor(eos, device=out.device))  # (B, N)
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, out.shape[1])  # (B,) up to and incl. eos
    return int(first.sum())


def run_rollout(engine, prompts, n, new_tokens, seed) -> int:
    params = SamplingParams(max_new_tokens=new_tokens, temperature=1.0, top_p=0.95, n=n, seed=seed)
    return int(engine.generate(prompts, params).completion_mask.sum())


def measure(fns: dict, repeats: int) -> dict[str, float]:
    """Median tokens/s of each fn (seed -> tokens), interleaved so machine noise hits all alike."""
    rates = {name: [] for name in fns}
    for name, fn in fns.items():
        fn(10_000)  # warm-up
    for r in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            tokens = fn(r)
            rates[name].append(tokens / (time.perf_counter() - start))
    return {name: statistics.median(v) for name, v in rates.items()}


def scenarios(args, model, tokenizer):
    pad = tokenizer.pad_token_id
    eos = list(range(VOCAB - N_EOS, VOCAB))
    indep = random_prompts(args.batch, args.prompt_len // 4, args.prompt_len // 2, seed=1)
    sweep = {b: random_prompts(b, args.prompt_len // 4, args.prompt_len // 2, seed=1) for b in args.batches}
    shared = random_prompts(args.prompts, args.prompt_len, args.prompt_len, seed=2)
    plain, no_share = RolloutEngine(model, tokenizer), RolloutEngine(model, tokenizer, share_prompts=False)
    stopping = RolloutEngine(model, tokenizer)
    no_compact = RolloutEngine(model, tokenizer, compact_min_frac=float("inf"))
    for engine in (plain, no_share):
        engine.eos_ids = []  # ignore eos, like generate without eos: every row runs the full length
    for engine in (stopping, no_compact):
        engine.eos_ids = eos
    N = args.new_tokens
    for b, prompts in sweep.items():
        yield f"independent {b}x1", {
            "generate": lambda s, prompts=prompts: run_generate(model, pad, prompts, 1, N, [], s),
            "rollout": lambda s, prompts=prompts: run_rollout(plain, prompts, 1, N, s),
        }
    yield f"shared {args.prompts}x{args.n}, prompt {args.prompt_len}", {
        "generate": lambda s: run_generate(model, pad, shared, args.n, N, [], s),
        "rollout": lambda s: run_rollout(plain, shared, args.n, N, s),
        "ablation": lambda s: run_rollout(no_share, shared, args.n, N, s),
    }
    yield f"early-stop {args.batch}x1, {N_EOS} eos ids", {
        "generate": lambda s: run_generate(model, pad, indep, 1, N, eos, s),
        "rollout": lambda s: run_rollout(stopping, indep, 1, N, s),
        "ablation": lambda s: run_rollout(no_compact, indep, 1, N, s),
    }


def batch_sizes(text: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]; R1kitError unless comma-separated integers >= 1."""
    try:
        sizes = [int(b) for b in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise R1kitError(f"--batches must be comma-separated integers >= 1, got {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--also-25m", action="store_true", help="also run hidden 512, 8 layers")
    parser.add_argument("--batch", type=int, default=32, help="prompts in the early-stop scenario")
    parser.add_argument("--batches", default="1,8,32,128", help="prompt counts of the independent scenario")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--prompts", type=int, default=4, help="prompts in the shared scenario")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt in the shared scenario")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-len", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    try:
        args.batches = batch_sizes(args.batches)
    except R1kitError as e:
        parser.error(str(e))
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = [(args.hidden, args.layers)] + ([(512, 8)] if args.also_25m else [])
    print(f"torch {torch.__version__}, {args.dtype}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeats}, tokens/s")
    print(f"{'model':>8} | {'scenario':<32} | {'generate':>9} | {'rollout':>9} | {'ratio':>6} | {'ablation':>9}")
    for hidden, layers in shapes:
        model, tokenizer = build(hidden, layers)
        model = model.to(getattr(torch, args.dtype))
        size = f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M"
        for name, fns in scenarios(args, model, tokenizer):
            rate = measure(fns, args.repeats)
            ablation = f"{rate['ablation']:9.0f}" if "ablation" in rate else f"{'-':>9}"
            print(f"{size:>8} | {name:<32} | {rate['generate']:9.0f} | {rate['rollout']:9.0f} | "
                  f"{rate['rollout'] / rate['generate']:5.2f}x | {ablation}", flush=True)


if __name__ == "__main__":
    main()
