"""GRPO against a separate `r1kit serve` process: on-policy (rollout.max_staleness 0) vs one-step off-policy
(1: the server samples step s+1's batch while step s trains), seconds per step side by side.

    python benchmarks/async_rollout.py [--steps 6] [--repeats 2] [--hidden 256] [--layers 4]

Builds a random qwen2 (r1kit's local tokenizer), starts `r1kit serve --threads 1` on it, and runs
`train_grpo` in this process with threads = 1 (one core for the trainer, one for the server on a 2-core
machine), alternating the two modes `--repeats` times. Seconds per step = the run's wall time (rollouts,
rewards, update, weight sync; a 1-problem eval at the end) / steps. The reward is a hash of the completion,
so every step updates. What the overlap can save is the shorter of the two halves of a step: the server's
sampling and the trainer's update.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "r1kit", "serve", "--model", str(model_dir), "--port", str(port),
                             "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"r1kit serve exited: {proc.stderr.read()[-2000:]}")
    raise SystemExit("r1kit serve did not come up in 120 s")


def one_run(model_dir: Path, url: str, out: Path, staleness: int, steps: int) -> float:
    from r1kit.config import load_config
    from r1kit.train.config import GRPORunConfig
    from r1kit.train.grpo import train_grpo

    overrides = {"model.name_or_path": str(model_dir), "model.device": "cpu", "out_dir": str(out), "steps": steps,
                 "rollout.prompts_per_step": 4, "rollout.group_size": 8, "rollout.max_new_tokens": 64,
                 "rollout.backend": "server", "rollout.server_url": url, "rollout.max_staleness": staleness,
                 "data.test_size": 1, "data.train_size": 200, "eval.samples": 1, "eval.max_new_tokens": 8,
                 "save_every": 0, "optim.micro_batch_size": 8, "threads": 1,
                 "rewards": json.dumps({"text_hash": 1.0})}
    cfg = load_config(GRPORunConfig, None, [f"--{k}={v}" for k, v in overrides.items()])
    start = time.perf_counter()
    train_grpo(cfg, progress=False)
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    from r1kit.models import new_model
    from r1kit.rewards.registry import register

    register("text_hash", lambda completion, example=None, ctx=None: zlib.crc32(completion.encode()) % 7 / 7)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = new_model("qwen2", "tiny", Path(tmp) / "model", seed=0, hidden_size=args.hidden,
                              num_hidden_layers=args.layers, intermediate_size=4 * args.hidden)
        port = free_port()
        server = start_server(model_dir, port)
        try:
            times: dict[int, list[float]] = {0: [], 1: []}
            for r in range(args.repeats):
                for staleness in times:  # alternating, so load drifts hit both alike
                    out = Path(tmp) / f"run-{staleness}-{r}"
                    times[staleness].append(one_run(model_dir, f"http://127.0.0.1:{port}", out, staleness,
                                                    args.steps))
        finally:
            server.terminate()
            server.wait()
    sync, ahead = statistics.median(times[0]), statistics.median(times[1])
    print(f"qwen2 hidden {args.hidden} x {args.layers} layers, 4 prompts x 8 samples x 64 tokens, {args.steps} steps, "
          f"median of {args.repeats}\n")
    print("| rollout.max_staleness | s/step | ratio |\n|---:|---:|---:|")
    print(f"| 0 (on-policy) | {sync:.2f} | 1.00 |\n| 1 (one step ahead) | {ahead:.2f} | {ahead / sync:.2f} |")


if __name__ == "__main__":
    main()
