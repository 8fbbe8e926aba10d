"""GRPO training, top to bottom: rollout -> rewards -> advantages -> update -> log -> checkpoint.

    r1kit train grpo --config recipes/tiny_cpu.yaml [--grpo.beta=0.001 ...] [--resume]

The math lives in `r1kit.algo` (pure functions); this file decides when to sample, score,
update, log and save. One step = P prompts x G samples, scored, turned into group-relative
advantages, then `updates_per_batch` (mu) optimizer steps on the same batch with the rollout's
logprobs as `old_logp` (DeepSeek-R1 eq. 1). With mu = 1 the ratio is 1 and the clip never
triggers; the clip matters for mu > 1. With model.lora only LoRA adapters train (r1kit.models.lora): the
KL reference is the same model with its adapters off, and checkpoints hold the merged weights plus adapter/.

    torchrun --nproc_per_node N -m r1kit train grpo --config C --parallel.strategy=ddp|fsdp2

runs this same loop on every process, each on its block of the step's prompts, with global normalisers and
advantages (r1kit.train.dist, docs/scaling.md). rollout.backend=server samples from an inference server that
reloads the policy after each step (train/server_rollout.py, docs/server-rollouts.md).

Held-out pass@1 (step 0, every `eval.every` steps, the end) goes through the one evaluator,
r1kit.rollout.evaluate, which `r1kit eval` also runs: a checkpoint evaluated there with the same
settings gets the same samples and the same number. train/ never imports eval/ (they are siblings).
"""

import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from r1kit import algo
from r1kit.train.checkpoint import (latest_checkpoint, load_policy, load_ref_weights, open_run_dir, restore_trainer_state,
                                   run_start, save_run)
from r1kit.train.config import GRPORunConfig
from r1kit.train.dist import Dist
from r1kit.train.forward import logp_agreement
from r1kit.train.metrics import MetricsLogger, plot_run, step_metrics
from r1kit.train.optim import optimizer_for
from r1kit.train.update import Batch, accumulate_update, teacher_forced_logp


class PromptStream:
    """Training examples in a seeded shuffled order, reshuffled each epoch; `position` is resumable."""

    def __init__(self, examples: list, seed: int, position: int = 0):
        self.examples, self.seed, self.position = examples, seed, position
        self._epoch, self._order = -1, []

    def take(self, n: int) -> list:
        out = []
        for _ in range(n):
            epoch, i = divmod(self.position, len(self.examples))
            if epoch != self._epoch:  # the order is a function of (seed, epoch) only, so resume reproduces it
                self._epoch, self._order = epoch, list(range(len(self.examples)))
                random.Random(self.seed * 7919 + epoch).shuffle(self._order)
            out.append(self.examples[self._order[i]])
            self.position += 1
        return out


def policy_update(model, batch: Batch, cfg: GRPORunConfig, opt, dist: Dist | None = None) -> dict[str, float]:
    """One optimizer step of algo.LOSSES[grpo.loss] (grpo, gspo or cispo) on `batch` (accumulate_update),
    micro-batches weighted by tokens for token_mean with a token-level loss, by sequences otherwise (GSPO
    always), so accumulation gives exactly the full-batch loss. With beta = 0 a row of zero advantage has no
    gradient under any of the three losses (every term is A times something), so only the other rows run
    forward and backward; they still count in the normaliser, so the step is the same (a zero-spread group
    of R1-Zero's 0/1 rewards is the common case: its whole group is skipped)."""
    g = cfg.grpo
    loss_fn = algo.LOSSES[g.loss]
    train_rows = batch.advantages != 0 if g.beta == 0 and batch.advantages.dim() == 1 else None

    def loss_of(mb: Batch, idx, logp):
        return loss_fn(logp, mb.old_logp, mb.ref_logp, mb.advantages, mb.completion_mask, clip_low=g.clip_low,
                       clip_high=g.clip_high, beta=g.beta, aggregation=g.aggregation, max_len=cfg.rollout.max_new_tokens,
                       is_weights=mb.is_weights)
    return accumulate_update(model, batch, cfg, opt, loss_of, by_tokens=g.aggregation == "token_mean" and g.loss != "gspo",
                             dist=dist, train_rows=train_rows)


def make_batch(rollout, rewards: torch.Tensor, cfg: GRPORunConfig, device: str, dist: Dist | None = None
               ) -> tuple[Batch | None, torch.Tensor]:
    """Advantages per group; with dynamic sampling, rows of zero-spread groups are dropped.

    Under torchrun each rank holds whole groups (its block of the step's prompts); the advantages are
    computed on every rank's rewards together, so batch-level statistics (reinforce_pp's std) are global.
    Returns (batch or None when nothing is left, per-group zero-spread mask (P,))."""
    G, dist = cfg.rollout.group_size, dist or Dist()
    everyone = torch.cat(dist.gather(rewards)) if dist.active else rewards             # (W * B,)
    advantages = algo.ADVANTAGES[cfg.grpo.advantage](everyone, G, cfg.grpo.eps)         # (W * B,)
    advantages = advantages[dist.rank * len(rewards):(dist.rank + 1) * len(rewards)]    # (B,) this rank's
    flat = algo.zero_spread_groups(rewards, G)                                           # (P,)
    batch = Batch(rollout.prompt_ids.to(device), rollout.prompt_mask.to(device),
                  rollout.completion_ids.to(device), rollout.completion_mask.to(device),
                  rollout.logp.to(device), advantages.to(device), None)
    if cfg.grpo.dynamic_sampling:
        keep = (~flat).repeat_interleave(G).nonzero().squeeze(1).to(device)              # (B',)
        if int(dist.sum(torch.tensor([keep.numel()]))[0]) == 0:  # no rank has a group left (a rank may)
            return None, flat
        batch = batch.rows(keep)
    return batch, flat


@dataclass
class Run:
    """Everything a GRPO run holds between steps."""
    cfg: GRPORunConfig
    dir: Path
    device: str
    model: object
    tokenizer: object
    ref_model: object | None
    task: object
    train: PromptStream
    test: list
    opt: object
    sched: object
    step: int = 0
    lora: object | None = None
    """With model.lora: the PeftModel around `model` (r1kit.models.lora); its base is the KL reference."""
    dist: Dist = field(default_factory=Dist)
    """This process's place in a torchrun launch (r1kit.train.dist); one process: Dist()."""


def setup_run(cfg: GRPORunConfig, resume: bool = False) -> Run:
    """Load everything and validate input *before* writing anything to the run directory."""
    from r1kit.data.tasks import get_task
    from r1kit.errors import R1kitError
    from r1kit.models import load_model, load_tokenizer
    from r1kit.models.device import resolve_device
    from r1kit.train.dist import check_parallel, init_dist, prepare_model

    run_dir = Path(cfg.out_dir)
    dist, device = init_dist(cfg.parallel.strategy, resolve_device(cfg.model.device))  # under torchrun only
    check_parallel(dist, cfg, "rollout.prompts_per_step", cfg.rollout.prompts_per_step)
    ckpt = run_start(run_dir, resume)
    from r1kit.rewards import check_rewards

    check_rewards(cfg.rewards, cfg.reward_options, preflight=True)  # names, options, the code sandbox
    if cfg.model.lora and cfg.grpo.ref_reset_every:
        raise R1kitError("grpo.ref_reset_every is not supported with model.lora yet (the reference is the base)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    task = get_task(cfg.data.task, **cfg.data.task_args)
    train, test = task.examples("train", cfg.data.train_size), task.examples("test", cfg.data.test_size)
    if not train:
        raise R1kitError(f"task {cfg.data.task!r} has no training examples")
    source = str(ckpt) if ckpt else cfg.model.name_or_path
    if not source:
        raise R1kitError("model.name_or_path is not set")
    model, lora = load_policy(cfg.model, ckpt, device)  # with model.lora: base + adapter, the adapter trains
    prepare_model(model, dist, cfg.parallel.mixed_precision)  # torchrun: replicas made equal, or sharded (fsdp2)
    tokenizer = load_tokenizer(source)
    ref_model = None
    if cfg.grpo.beta > 0 and lora is None:  # beta = 0 never loads or runs the reference model; LoRA: the base
        ref_model = load_model(cfg.model.name_or_path, dtype=cfg.model.dtype, device=device).eval().requires_grad_(False)
        if ckpt:
            load_ref_weights(ckpt, ref_model)
        prepare_model(ref_model, dist, cfg.parallel.mixed_precision)
    opt, sched = optimizer_for(model, cfg.optim, cfg.steps)
    run = Run(cfg, run_dir, device, model, tokenizer, ref_model, task, PromptStream(train, cfg.seed), test, opt, sched,
              lora=lora, dist=dist)
    if ckpt:
        run.step, run.train.position = restore_trainer_state(ckpt, opt, sched, model)
    open_run_dir(dist, run_dir, cfg)  # rank 0, once every rank has checked the folder
    return run


def save(run: Run, in_flight: int = 0) -> Path | None:
    """Write a checkpoint (rank 0 only; under fsdp2 every rank helps gather the full weights and optimizer
    state first). Returns its path on rank 0, None on the others, once it is complete. in_flight: examples
    already taken from the stream for a batch being sampled ahead (RolloutAhead): a resume takes them again."""
    reset = run.ref_model is not None and run.cfg.grpo.ref_reset_every and run.step >= run.cfg.grpo.ref_reset_every
    return save_run(run.dist, run.dir, run.step, run.model, run.tokenizer, run.opt, run.sched,
                    run.train.position - in_flight, ref_model=run.ref_model if reset else None,
                    keep=run.cfg.keep_checkpoints,
                    template=run.cfg.data.template,  # the prompt it trained on, as its chat template
                    lora=run.lora)  # LoRA: merged weights on top, the adapter in adapter/


def rollout_request(run, step: int) -> tuple[list, list[str], object]:
    """What step `step` samples: the next rollout.prompts_per_step problems of the run's stream (taken from it),
    in data.template, G = rollout.group_size samples each, seeded seed * 1000003 + step * W + rank:
    (examples, prompts, SamplingParams). Under torchrun (W processes) every rank advances the stream alike
    and samples its own block of the problems (r1kit.train.dist.Dist.block), with its own seed."""
    from r1kit.data.templates import render_prompt
    from r1kit.rollout import SamplingParams

    cfg, dist = run.cfg, getattr(run, "dist", None) or Dist()
    examples = dist.block(run.train.take(cfg.rollout.prompts_per_step), "rollout.prompts_per_step")
    prompts = [render_prompt(ex.problem, cfg.data.template, run.tokenizer) for ex in examples]
    params = SamplingParams(max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
                            top_p=cfg.rollout.top_p, n=cfg.rollout.group_size, stop=tuple(cfg.rollout.stop),
                            seed=cfg.seed * 1_000_003 + step * dist.world_size + dist.rank)
    return examples, prompts, params


def sample_rollout(run, engine) -> tuple[list, list[str], object]:
    """This step's rollout_request sampled from `engine` now (fsdp2: on gathered weights): (examples, prompts,
    rollout)."""
    from r1kit.train.dist import gathered_params

    examples, prompts, params = rollout_request(run, run.step)
    with gathered_params(run.model):
        return examples, prompts, engine.generate(prompts, params)


def grpo_step(run: Run, engine, ahead=None) -> dict[str, float]:
    """One GRPO step. Returns the step's metrics. ahead: a server_rollout.RolloutAhead (rollout.max_staleness
    = 1), which hands over the batch it sampled during the previous step and starts the next one."""
    from r1kit.data.templates import opens_think
    from r1kit.rewards import RewardContext, compute_rewards

    cfg, G = run.cfg, run.cfg.rollout.group_size
    t0 = time.perf_counter()
    # ---- rollout: P prompts x G samples from the current policy ----
    examples, prompts, rollout = ahead.sample(run) if ahead else sample_rollout(run, engine)
    t_rollout = time.perf_counter() - t0
    # ---- rewards: rule-based, per component, weighted ----
    group_examples = [ex for ex in examples for _ in range(G)]
    think_open = [opens_think(prompts[i]) for i in rollout.prompt_index]  # chat form: completions start in <think>
    contexts = [RewardContext(run.task, int(n), cfg.rollout.max_new_tokens, finish == "length", opened)
                for n, finish, opened in zip(rollout.completion_mask.sum(1).tolist(), rollout.finish_reasons,
                                             think_open)]
    totals, components = compute_rewards(rollout.texts, group_examples, run.task, cfg.rewards,
                                         contexts=contexts, options=cfg.reward_options)
    rewards = torch.tensor(totals, dtype=torch.float32)                                  # (B,)
    # ---- advantages: group-relative (and DAPO dynamic sampling) ----
    batch, flat = make_batch(rollout, rewards, cfg, run.device, run.dist)
    # ---- update: mu optimizer steps on this batch, old logprobs from the rollout ----
    stats: dict[str, float] = {}
    if batch is not None:  # old and reference logp in eval mode, as the rollout sampled (no dropout)
        recompute = cfg.grpo.recompute_old_logp or cfg.rollout.backend == "server"  # a server's logp: never old_logp
        if recompute or run.step == 0:  # sampler vs teacher-forced logp: free, or once (issue 9)
            forward_logp = teacher_forced_logp(run.model, batch, cfg)
            stats = logp_agreement(batch.old_logp, forward_logp, batch.completion_mask)
            if recompute:
                batch.sampler_logp, batch.old_logp = batch.old_logp, forward_logp
                gap = algo.logp_gap(batch.old_logp, batch.sampler_logp, batch.completion_mask)
                stats.update({"logp_gap/mean": gap["mean_abs"], "logp_gap/max": gap["max_abs"]})
        if cfg.grpo.tis_cap > 0 and batch.sampler_logp is not None:  # TIS: each token's PG term x min(ratio, C)
            g = cfg.grpo
            batch.is_weights, tis = algo.importance_weights(batch.old_logp, batch.sampler_logp, batch.completion_mask,
                                                            cap=g.tis_cap, level=g.tis_level, mode=g.tis_mode)
            stats.update({"tis/weight_mean": tis["weight_mean"], "tis/capped_frac": tis["capped_frac"]})
        if run.ref_model is not None:
            batch.ref_logp = teacher_forced_logp(run.ref_model, batch, cfg)
        elif run.lora is not None and cfg.grpo.beta > 0:  # LoRA: the reference is the base, adapters off
            from r1kit.models.lora import adapters_disabled

            with adapters_disabled(run.lora):
                batch.ref_logp = teacher_forced_logp(run.model, batch, cfg)
        run.model.train()
        for _ in range(cfg.grpo.updates_per_batch):
            stats = {**stats, **policy_update(run.model, batch, cfg, run.opt, run.dist)}
        run.model.eval()
    run.sched.step()
    run.step += 1
    # ---- reference reset: pi_ref <- pi_theta every N steps (report: 400) ----
    if run.ref_model is not None and cfg.grpo.ref_reset_every and run.step % cfg.grpo.ref_reset_every == 0:
        run.ref_model.load_state_dict(run.model.state_dict())
    # ---- log ----
    timing = run.dist.max(torch.tensor([time.perf_counter() - t0, t_rollout]))                # slowest rank
    n_tokens = int(run.dist.sum(rollout.completion_mask.sum().reshape(1).cpu())[0])          # every rank's
    dt, t_rollout = timing.tolist()
    return {**step_metrics(run.dist, rollout, components, rewards, flat, any(think_open), stats),
            "lr": run.sched.get_last_lr()[0], "step_time": dt, "rollout_time": t_rollout,
            "tokens_per_s": n_tokens / max(dt, 1e-9), "skipped_update": float(batch is None)}


def eval_settings(cfg: GRPORunConfig):
    """The run's held-out evaluation settings (rollout.evaluate.EvalSettings): `r1kit eval` with the same
    values (--samples, --temperature, ..., --problems_per_batch) samples and scores exactly the same."""
    from r1kit.rollout.evaluate import EvalSettings

    e = cfg.eval
    return EvalSettings(samples=e.samples, temperature=e.temperature, top_p=e.top_p, max_new_tokens=e.max_new_tokens,
                        stop=tuple(cfg.rollout.stop), seed=cfg.seed, problems_per_batch=e.problems_per_batch)


def evaluate_policy(engine, task, examples: list, cfg: GRPORunConfig):
    """Held-out pass@1 of `engine`'s model (a rollout.evaluate.EvalResult) through the one evaluator, the
    problems asked as training asks them (the problem text in cfg.data.template)."""
    from r1kit.rollout.evaluate import evaluate
    from r1kit.rollout.sampler import EngineSampler

    return evaluate(EngineSampler(engine, cfg.data.template), task, examples, eval_settings(cfg))


def evaluate_run(run: Run, engine):
    """Held-out pass@1 of the current policy by the run's eval settings. Under torchrun rank 0 evaluates (on
    gathered weights with fsdp2) and the other ranks get None. Under mixed precision the engine samples the
    fp32 weights themselves here, not its bf16 copies, so `r1kit eval` of a checkpoint gets the same number."""
    from r1kit.train.dist import gathered_params

    compute_dtype = getattr(engine, "compute_dtype", None)
    try:
        if compute_dtype is not None:
            engine.compute_dtype = None
        with gathered_params(run.model):
            return evaluate_policy(engine, run.task, run.test, run.cfg) if run.dist.is_main else None
    finally:
        if compute_dtype is not None:
            engine.compute_dtype = compute_dtype


def eval_metrics(res) -> dict[str, float]:
    return {"eval/pass@1": res.pass_at_1, "eval/response_length": res.mean_length}


def train_grpo(cfg: GRPORunConfig, resume: bool = False, progress: bool = True, console=None,
               baseline=None) -> dict:
    """Run GRPO to cfg.steps; returns the last step's metrics (with the final eval).

    baseline: an EvalResult of the starting model by the same eval settings, logged as the step-0
    point instead of evaluating again. The final evaluation is returned as metrics["eval_result"].
    """
    from r1kit.progress import StepProgress
    from r1kit.train.server_rollout import RolloutAhead, open_rollout_engine, sync_policy

    run = setup_run(cfg, resume)
    engine = open_rollout_engine(run)
    ahead = RolloutAhead(engine) if cfg.rollout.max_staleness else None  # one-step off-policy sampling
    main = run.dist.is_main  # under torchrun rank 0 logs, evaluates and writes; every rank trains
    logger = MetricsLogger(run.dir, resume_step=run.step) if main else None
    metrics: dict = {}
    if cfg.eval.every and run.step == 0:  # the starting point of the held-out curve
        start = baseline or evaluate_run(run, engine)
        if main:
            logger.log(0, eval_metrics(start))
    final_eval = None
    with StepProgress(cfg.steps, start=run.step, enabled=progress and main, console=console) as bar, \
            contextlib.closing(ahead) if ahead else contextlib.nullcontext():
        while run.step < cfg.steps:
            metrics = grpo_step(run, engine, ahead)
            if ahead:  # the next batch, sampled during this step, is complete before the server's weights change
                ahead.settle()
                metrics["rollout/staleness"] = ahead.staleness
            sync_policy(run, engine)  # server backend: the server loads the updated policy before any rollout
            # ---- evaluate on held-out problems every N steps, and at the end ----
            if (cfg.eval.every and run.step % cfg.eval.every == 0) or run.step == cfg.steps:
                final_eval = evaluate_run(run, engine)
                metrics.update(eval_metrics(final_eval) if final_eval else {})
            if main:
                logger.log(run.step, metrics)
            bar.update(run.step, metrics)
            # ---- checkpoint ----
            if (cfg.save_every and run.step % cfg.save_every == 0) or run.step == cfg.steps:
                save(run, in_flight=ahead.taken if ahead else 0)
    if main:
        logger.close()
        metrics["plot"] = str(plot_run(run.dir / "metrics.jsonl", run.dir / "plot.png"))
    run.dist.barrier()
    metrics["checkpoint"] = str(latest_checkpoint(run.dir))
    metrics["eval_result"] = final_eval
    return metrics


def export_weights(run: Run, folder) -> Path:
    """The current policy as a plain Hugging Face folder (merged weights with LoRA), as `save` writes the
    checkpoint's top folder; what an inference server loads to sample the next rollout (server_rollout.py).
    Under torchrun every rank calls it (fsdp2 gathers the shards) and rank 0 writes."""
    from r1kit.models import save_model
    from r1kit.train.dist import full_state_dict

    weights = full_state_dict(run.model)  # fsdp2: a collective; None otherwise
    if not run.dist.is_main:
        return Path(folder)
    if run.lora is not None:
        from r1kit.models.lora import merged_copy

        return save_model(merged_copy(run.lora), run.tokenizer, folder, template=run.cfg.data.template)
    return save_model(run.model, run.tokenizer, folder, template=run.cfg.data.template, state_dict=weights)
