"""On-policy distillation, top to bottom: student rollout -> teacher scores -> advantages -> update -> log.

    r1kit train onpolicy --config recipes/onpolicy_tiny.yaml [--teacher.name_or_path=... ] [--resume]

The student samples G completions for each of P prompts (GRPO's rollout, train/grpo.py); the teacher,
frozen and in eval mode, scores every sampled token by a teacher-forced pass (teacher_logp); the loss is
the per-token reverse KL(student || teacher) on the student's own samples, as a policy gradient with
A_t = teacher_logp_t - old_logp_t (r1kit.algo.onpolicy_distill_loss, where the estimator is derived).
No rewards, no group baseline: group_size may be 1. One optimizer step per batch, so the ratio is 1.
Both models' logp are at rollout.temperature (the student's sampling distribution against the teacher's
at the same temperature). Teacher and student must share a tokenizer: the teacher scores token ids.

The prompt stream, the held-out evaluation (eval/pass@1 through the one evaluator), metrics.jsonl,
checkpoints and resume are GRPO's own pieces, imported, so a run reads and resumes as a GRPO run does.
"""

import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from r1kit import algo
from r1kit.config import save_config
from r1kit.errors import R1kitError
from r1kit.train.checkpoint import latest_checkpoint, restore_trainer_state, run_start, save_checkpoint, trainer_state
from r1kit.train.forward import logp_agreement
from r1kit.train.grpo import PromptStream, eval_metrics, evaluate_policy, sample_rollout
from r1kit.train.metrics import MetricsLogger, plot_run
from r1kit.train.onpolicy_config import OnPolicyRunConfig
from r1kit.train.optim import optimizer_for
from r1kit.train.update import Batch, accumulate_update, teacher_forced_logp


@dataclass
class OnPolicyRun:
    """Everything an on-policy distillation run holds between steps."""
    cfg: OnPolicyRunConfig
    dir: Path
    device: str
    model: object
    tokenizer: object
    teacher: object
    teacher_device: str
    task: object
    train: PromptStream
    test: list
    opt: object
    sched: object
    step: int = 0


def load_as(role: str, source: str, dtype: str, device: str):
    """(model, tokenizer) from `source`; a missing path is a one-line R1kitError naming onpolicy and the role."""
    from r1kit.models import load_model, load_tokenizer

    if not source:
        raise R1kitError(f"onpolicy: {role}.name_or_path is not set")
    try:
        return load_model(source, dtype=dtype, device=device), load_tokenizer(source)
    except R1kitError as e:
        raise R1kitError(f"onpolicy: {role}: {e}") from None


def check_same_tokenizer(teacher_tok, student_tok, teacher_path: str, student_path: str) -> None:
    """The teacher scores the student's token ids, so both must map the same strings to the same ids."""
    if len(teacher_tok) != len(student_tok) or teacher_tok.get_vocab() != student_tok.get_vocab():
        raise R1kitError(f"onpolicy: teacher {teacher_path} and student {student_path} tokenizers differ "
                         f"({len(teacher_tok)} vs {len(student_tok)} tokens, or other ids); on-policy distillation "
                         "needs one tokenizer")


def logits_width(model) -> int:
    """How many token ids the model scores (its output embedding rows; may exceed len(tokenizer))."""
    head = model.get_output_embeddings()
    return head.weight.shape[0] if head is not None else model.config.vocab_size


def setup_run(cfg: OnPolicyRunConfig, resume: bool = False) -> OnPolicyRun:
    """Load student, teacher and data and validate them *before* writing anything to the run directory."""
    from r1kit.data.tasks import get_task
    from r1kit.models.device import resolve_device

    run_dir = Path(cfg.out_dir)
    ckpt = run_start(run_dir, resume, "onpolicy")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    device, teacher_device = resolve_device(cfg.model.device), resolve_device(cfg.teacher.device)
    model, tokenizer = load_as("model", str(ckpt) if ckpt else cfg.model.name_or_path, cfg.model.dtype, device)
    t = cfg.teacher
    teacher, teacher_tok = load_as("teacher", t.name_or_path, t.dtype, teacher_device)
    check_same_tokenizer(teacher_tok, tokenizer, t.name_or_path, cfg.model.name_or_path)
    if logits_width(teacher) < logits_width(model):  # a padded student embedding may sample ids the teacher lacks
        raise R1kitError(f"onpolicy: teacher {t.name_or_path} scores {logits_width(teacher)} token ids, fewer than "
                         f"the student's {logits_width(model)}")
    teacher.eval().requires_grad_(False)
    task = get_task(cfg.data.task, **cfg.data.task_args)
    train, test = task.examples("train", cfg.data.train_size), task.examples("test", cfg.data.test_size)
    if not train:
        raise R1kitError(f"onpolicy: task {cfg.data.task!r} has no training examples")
    opt, sched = optimizer_for(model, cfg.optim, cfg.steps)
    run = OnPolicyRun(cfg, run_dir, device, model, tokenizer, teacher, teacher_device, task,
                      PromptStream(train, cfg.seed), test, opt, sched)
    if ckpt:
        run.step, run.train.position = restore_trainer_state(ckpt, opt, sched)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    return run


def teacher_logp_of(run: OnPolicyRun, batch: Batch) -> torch.Tensor:
    """The teacher's teacher-forced logp of the batch's completions (B, Lc), on the student's device."""
    if run.teacher_device == run.device:
        return teacher_forced_logp(run.teacher, batch, run.cfg)
    moved = Batch(**{f: None if getattr(batch, f) is None else getattr(batch, f).to(run.teacher_device)
                     for f in batch.__dataclass_fields__})
    return teacher_forced_logp(run.teacher, moved, run.cfg).to(run.device)


def distill_update(model, batch: Batch, teacher_logp: torch.Tensor, cfg: OnPolicyRunConfig, opt) -> dict[str, float]:
    """One optimizer step of algo.onpolicy_distill_loss on `batch` (grpo.accumulate_update); the loss is a
    token mean, so micro-batches are weighted by their share of the batch's completion tokens."""
    def loss_of(mb: Batch, idx, logp):
        return algo.onpolicy_distill_loss(logp, mb.old_logp, teacher_logp[idx], mb.completion_mask)
    return accumulate_update(model, batch, cfg, opt, loss_of, by_tokens=True)


def onpolicy_step(run: OnPolicyRun, engine) -> dict[str, float]:
    """One on-policy distillation step. Returns the step's metrics."""
    cfg = run.cfg
    t0 = time.perf_counter()
    # ---- rollout: P prompts x G samples from the student ----
    _, _, rollout = sample_rollout(run, engine)
    t_rollout = time.perf_counter() - t0
    d = run.device
    batch = Batch(rollout.prompt_ids.to(d), rollout.prompt_mask.to(d), rollout.completion_ids.to(d),
                  rollout.completion_mask.to(d), rollout.logp.to(d), None, None)
    stats: dict[str, float] = {}
    if run.step == 0:  # sampler vs teacher-forced logp of the student, once (issue 9)
        stats = logp_agreement(batch.old_logp, teacher_forced_logp(run.model, batch, cfg), batch.completion_mask)
    # ---- teacher: logp of the student's tokens, no gradient ----
    teacher_logp = teacher_logp_of(run, batch)                                           # (B, Lc)
    # ---- advantages: A_t = teacher_logp_t - old_logp_t (per token) ----
    batch.advantages = algo.reverse_kl_advantages(batch.old_logp, teacher_logp, batch.completion_mask)   # (B, Lc)
    # ---- update: one optimizer step, on-policy (ratio 1) ----
    run.model.train()
    stats.update(distill_update(run.model, batch, teacher_logp, cfg, run.opt))
    run.model.eval()
    run.sched.step()
    run.step += 1
    # ---- log ----
    dt = time.perf_counter() - t0
    lengths = rollout.completion_mask.sum(1).float()                                     # (B,)
    return {**stats, "response_length/mean": lengths.mean().item(),
            "truncated_frac": sum(r == "length" for r in rollout.finish_reasons) / len(rollout.finish_reasons),
            "lr": run.sched.get_last_lr()[0], "step_time": dt, "rollout_time": t_rollout,
            "tokens_per_s": float(lengths.sum()) / max(dt, 1e-9)}


def save(run: OnPolicyRun) -> Path:
    state = trainer_state(run.opt, run.sched, run.step, run.train.position)
    return save_checkpoint(run.dir, run.step, run.model, run.tokenizer, state, keep=run.cfg.keep_checkpoints,
                           template=run.cfg.data.template)  # the prompt it trained on, as its chat template


def train_onpolicy(cfg: OnPolicyRunConfig, resume: bool = False, progress: bool = True, console=None) -> dict:
    """Distil the teacher into the student on-policy for cfg.steps; returns the last step's metrics
    (with the final evaluation as metrics["eval_result"], the plot and the last checkpoint)."""
    from r1kit.progress import StepProgress
    from r1kit.rollout import RolloutEngine

    run = setup_run(cfg, resume)
    engine = RolloutEngine(run.model, run.tokenizer)
    evaluate = lambda: evaluate_policy(engine, run.task, run.test, cfg)
    logger = MetricsLogger(run.dir, resume_step=run.step)
    metrics: dict = {}
    if cfg.eval.every and run.step == 0:  # the starting point of the held-out curve
        logger.log(0, eval_metrics(evaluate()))
    final_eval = None
    with StepProgress(cfg.steps, start=run.step, enabled=progress, console=console) as bar:
        while run.step < cfg.steps:
            metrics = onpolicy_step(run, engine)
            # ---- evaluate on held-out problems every N steps, and at the end ----
            if (cfg.eval.every and run.step % cfg.eval.every == 0) or run.step == cfg.steps:
                final_eval = evaluate()
                metrics.update(eval_metrics(final_eval))
            logger.log(run.step, metrics)
            bar.update(run.step, metrics)
            # ---- checkpoint ----
            if (cfg.save_every and run.step % cfg.save_every == 0) or run.step == cfg.steps:
                save(run)
    logger.close()
    metrics["plot"] = str(plot_run(run.dir / "metrics.jsonl", run.dir / "plot.png"))
    metrics["checkpoint"] = str(latest_checkpoint(run.dir))
    metrics["eval_result"] = final_eval
    return metrics
