"""A GRPO or SFT run for tests/train/test_dist.py, launched as one process or under torchrun.

    python tests/train/dist_worker.py grpo CONFIG.json [--section.key=value ...] [--resume]
    torchrun --nproc_per_node 2 tests/train/dist_worker.py sft CONFIG.json --parallel.strategy=fsdp2

GRPO samples through `PerPromptEngine`: each prompt's G completions come from their own engine call,
seeded by the prompt text and the step, so a prompt gets the same samples whichever rank holds it and
whatever else is in its batch -- the one thing that makes 1-process and N-process runs see the same global
batch. The `text_hash` reward (a hash of the completion, in [0, 1)) gives a random tiny model's groups spread. Everything after the rollout (rewards, advantages, reference, update, checkpoints) is the real path.
"""

import os
import sys
import zlib

import torch


class PerPromptEngine:
    """RolloutEngine's contract, one prompt at a time, seeded by (prompt, step); for runs with seed 0, whose
    rollout seed is step * world_size + rank (grpo.sample_rollout)."""

    def __init__(self, engine):
        self.engine, self.tokenizer, self.model = engine, engine.tokenizer, engine.model
        self.world = int(os.environ.get("WORLD_SIZE", "1"))

    def generate(self, prompts, params):
        from dataclasses import replace

        from r1kit.rollout.types import Rollout

        step = params.seed // self.world
        outs = [self.engine.generate([p], replace(params, seed=zlib.crc32(p.encode()) + 1000 * step)) for p in prompts]
        lp = max(o.prompt_ids.shape[1] for o in outs)
        lc = max(o.completion_ids.shape[1] for o in outs)
        pad = self.engine.pad_id

        def left(t, width, value):
            return torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value)

        def right(t, width, value):
            return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

        return Rollout(torch.cat([left(o.prompt_ids, lp, pad) for o in outs]),
                       torch.cat([left(o.prompt_mask, lp, 0) for o in outs]),
                       torch.cat([right(o.completion_ids, lc, pad) for o in outs]),
                       torch.cat([right(o.completion_mask, lc, 0) for o in outs]),
                       torch.cat([right(o.logp, lc, 0.0) for o in outs]),
                       [t for o in outs for t in o.texts], [f for o in outs for f in o.finish_reasons],
                       [i for i, o in enumerate(outs) for _ in o.texts])


def main(kind: str, config: str, args: list[str]) -> None:
    from r1kit.config import load_config

    from r1kit.rewards.registry import register

    torch.set_num_threads(1)
    register("text_hash", lambda completion, example=None, ctx=None: zlib.crc32(completion.encode()) % 7 / 7)
    resume, overrides = "--resume" in args, [a for a in args if a != "--resume"]
    if kind == "grpo":
        from r1kit.rollout import RolloutEngine
        from r1kit.train import grpo, server_rollout
        from r1kit.train.config import GRPORunConfig

        server_rollout.open_rollout_engine = lambda run: PerPromptEngine(RolloutEngine(run.model, run.tokenizer))
        grpo.train_grpo(load_config(GRPORunConfig, config, overrides), resume=resume, progress=False)
    else:
        from r1kit.train.sft_config import SFTRunConfig
        from r1kit.train.sft_run import train_sft

        train_sft(load_config(SFTRunConfig, config, overrides), resume=resume, progress=False)


if __name__ == "__main__":
    from r1kit.train.dist import end_process_group

    main(sys.argv[1], sys.argv[2], sys.argv[3:])
    end_process_group()
