"""Reward-model training (`r1kit train rm`): a causal LM with a scalar head, fit to preference pairs
with the Bradley–Terry loss (r1kit.algo.bradley_terry_loss). Stage 4 of the R1 recipe scores general
prompts with such a model (the `reward_model` reward, r1kit.rewards.reward_model).

    r1kit train rm --config recipes/rm_tiny.yaml [--rm.margin=0.5 ...] [--resume]

One step = `rm.batch_size` pairs in a seeded shuffled order: chosen and rejected texts through the model
(r_c, r_r), loss = mean −log σ(r_c − r_r − m), one AdamW step. Held-out loss and pairwise accuracy
(share of pairs with r_c > r_r) at step 0, every `eval_every` steps and at the end, in metrics.jsonl
beside the training loss and accuracy. Checkpoints (train/checkpoint.py) are Hugging Face folders that
`AutoModelForSequenceClassification` loads (num_labels=1); a run resumes from its latest exactly.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from r1kit import algo
from r1kit.config import save_config
from r1kit.train.checkpoint import latest_checkpoint, restore_trainer_state, run_start, save_checkpoint, trainer_state
from r1kit.train.grpo import PromptStream
from r1kit.train.metrics import MetricsLogger
from r1kit.train.optim import optimizer_for
from r1kit.train.rm_config import RMRunConfig


@dataclass
class RMRun:
    cfg: RMRunConfig
    dir: Path
    model: object
    tokenizer: object
    train: PromptStream       # of (chosen text, rejected text) pairs
    test: list                # held-out (chosen text, rejected text) pairs
    opt: torch.optim.Optimizer
    sched: object
    step: int = 0


def load_pairs(cfg: RMRunConfig) -> tuple[list, list]:
    """(train, held-out) PreferencePairs: from `data.path` (held out by prompt hash, or `data.test_path`),
    or the toy set. R1kitError (naming "rm" and the file) for a missing file or a bad row."""
    from r1kit.data.preference import load_preferences, toy_preferences
    from r1kit.errors import R1kitError

    d = cfg.data
    if not d.path:
        if d.toy <= 0:
            raise R1kitError("rm: set data.path to a preference JSONL file (or data.toy to N for the toy set)")
        return (toy_preferences(d.toy, "train", d.test_fraction, cfg.seed),
                toy_preferences(d.toy, "test", d.test_fraction, cfg.seed) if d.test_fraction > 0 else [])
    if d.test_path:
        return load_preferences(d.path, "all"), load_preferences(d.test_path, "all")
    if d.test_fraction == 0:
        return load_preferences(d.path, "all"), []
    return load_preferences(d.path, "train", d.test_fraction), load_preferences(d.path, "test", d.test_fraction)


def setup_run(cfg: RMRunConfig, resume: bool = False) -> RMRun:
    """Load and validate everything *before* writing anything to the run directory."""
    from r1kit.errors import R1kitError
    from r1kit.models.device import resolve_device
    from r1kit.rewards.reward_model import reward_model_from_lm, rm_text

    run_dir = Path(cfg.out_dir)
    ckpt = run_start(run_dir, resume, "rm")
    train, test = load_pairs(cfg)
    if not train:
        raise R1kitError("rm: no training pairs (all were held out)")
    source = str(ckpt) if ckpt else cfg.model.name_or_path
    if not source:
        raise R1kitError("rm: model.name_or_path is not set")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model, tokenizer = reward_model_from_lm(source, dtype=cfg.model.dtype, device=resolve_device(cfg.model.device))
    texts = lambda pairs: [(rm_text(tokenizer, p.prompt, p.chosen), rm_text(tokenizer, p.prompt, p.rejected))
                           for p in pairs]
    opt, sched = optimizer_for(model, cfg.optim, cfg.steps)
    run = RMRun(cfg, run_dir, model, tokenizer, PromptStream(texts(train), cfg.seed), texts(test), opt, sched)
    if ckpt:
        run.step, run.train.position = restore_trainer_state(ckpt, opt, sched)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    return run


def pair_rewards(run: RMRun, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(r_c, r_r), each (B,): chosen and rejected texts scored in one forward pass of 2B rows."""
    from r1kit.rewards.reward_model import sequence_rewards

    rewards = sequence_rewards(run.model, run.tokenizer, [c for c, _ in pairs] + [r for _, r in pairs],
                               run.cfg.data.max_length)                           # (2B,)
    return rewards[:len(pairs)], rewards[len(pairs):]


def rm_step(run: RMRun) -> dict[str, float]:
    """One optimizer step on the next `rm.batch_size` pairs, accumulating over `optim.micro_batch_size`."""
    cfg = run.cfg
    batch = run.train.take(cfg.rm.batch_size)
    micro = cfg.optim.micro_batch_size or len(batch)
    run.model.train()
    run.opt.zero_grad(set_to_none=True)
    chosen, rejected = [], []
    for start in range(0, len(batch), micro):
        part = batch[start:start + micro]
        r_c, r_r = pair_rewards(run, part)
        loss, _ = algo.bradley_terry_loss(r_c, r_r, cfg.rm.margin)
        (loss * len(part) / len(batch)).backward()  # a mean over the part, weighted to the batch mean
        chosen.append(r_c.detach())
        rejected.append(r_r.detach())
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    lr = run.sched.get_last_lr()[0]
    run.opt.step()
    run.sched.step()
    run.step += 1
    loss, diag = algo.bradley_terry_loss(torch.cat(chosen), torch.cat(rejected), cfg.rm.margin)
    return {"loss": loss.item(), **{k: v.item() for k, v in diag.items()}, "grad_norm": grad_norm.item(), "lr": lr}


@torch.no_grad()
def evaluate_pairs(run: RMRun) -> dict[str, float]:
    """Held-out Bradley–Terry loss and pairwise accuracy (ties 1/2) over every held-out pair."""
    run.model.eval()
    chosen, rejected = [], []
    size = run.cfg.rm.eval_batch_size
    for start in range(0, len(run.test), size):
        r_c, r_r = pair_rewards(run, run.test[start:start + size])
        chosen.append(r_c)
        rejected.append(r_r)
    loss, diag = algo.bradley_terry_loss(torch.cat(chosen), torch.cat(rejected), run.cfg.rm.margin)
    return {"eval/loss": loss.item(), "eval/accuracy": diag["accuracy"].item(),
            "eval/reward_margin": diag["reward_margin"].item(), "eval/pairs": len(run.test)}


def save(run: RMRun) -> Path:
    state = trainer_state(run.opt, run.sched, run.step, run.train.position)
    return save_checkpoint(run.dir, run.step, run.model, run.tokenizer, state, keep=run.cfg.keep_checkpoints)


def train_rm(cfg: RMRunConfig, resume: bool = False, progress: bool = True, console=None) -> dict:
    """Train the reward model to cfg.steps; returns the last step's metrics (with the held-out ones)."""
    from r1kit.progress import StepProgress

    run = setup_run(cfg, resume)
    logger = MetricsLogger(run.dir, resume_step=run.step)
    metrics: dict = {}
    if cfg.eval_every and run.step == 0 and run.test:  # the starting point of the held-out curve
        logger.log(0, evaluate_pairs(run))
    with StepProgress(cfg.steps, start=run.step, enabled=progress, console=console, description="rm") as bar:
        while run.step < cfg.steps:
            metrics = rm_step(run)
            if run.test and ((cfg.eval_every and run.step % cfg.eval_every == 0) or run.step == cfg.steps):
                metrics.update(evaluate_pairs(run))
            logger.log(run.step, metrics)
            bar.update(run.step, metrics)
            if (cfg.save_every and run.step % cfg.save_every == 0) or run.step == cfg.steps:
                save(run)
    logger.close()
    run.model.eval()
    metrics["checkpoint"] = str(latest_checkpoint(run.dir))
    return metrics
