"""Where GRPO's rollouts come from: in-process (RolloutEngine) or an inference server that follows the policy.

    rollout.backend: engine    RolloutEngine(run.model, run.tokenizer): always the current weights
    rollout.backend: server    r1kit.rollout.remote.ServerEngine at rollout.server_url (r1kit serve, SGLang, vLLM)

With a server, after every rollout.sync_every optimizer steps (and before any held-out evaluation) the policy
is written as a Hugging Face folder to <run dir>/sync and the server reloads it from disk
(`engine.update_weights`); a failed reload raises, so no rollout is ever drawn from weights other than the
ones the run means (sync_every = 1: the current policy; N: at most N - 1 steps stale, by choice). At step 0
the server must serve the run's starting model (model.name_or_path); a resumed run syncs once before the
first rollout. The trainer recomputes old_logp by a teacher-forced pass and keeps the server's logprobs as
sampler_logp (grpo.py, the update block; off-policy correction: grpo.tis_cap). docs/server-rollouts.md.
"""

from __future__ import annotations

from pathlib import Path

from r1kit.errors import R1kitError


def open_rollout_engine(run):
    """The run's rollout engine: RolloutEngine for rollout.backend engine; for server a preflighted
    ServerEngine (R1kitError, one line, when the server is unreachable or serves another model), synced
    to the policy at once when the run resumes past step 0."""
    r = run.cfg.rollout
    if r.backend == "engine":
        from r1kit.rollout import RolloutEngine
        from r1kit.train.lean_forward import compute_dtype

        return RolloutEngine(run.model, run.tokenizer, compute_dtype=compute_dtype(run.cfg.parallel, run.model))
    from r1kit.rollout.remote import ServerEngine
    from r1kit.rollout.stopping import eos_token_ids

    engine = ServerEngine(r.server_url, run.tokenizer, api_key=r.api_key or None, kind=r.server_kind,
                          eos_ids=eos_token_ids(run.model, run.tokenizer))
    engine.preflight()
    if run.step > 0:  # resumed: the server still holds whatever it was started with
        push_weights(run, engine)
    return engine


def sync_policy(run, engine) -> None:
    """After an optimizer step (run.step already counts it): with the server backend, push the policy to the
    server every rollout.sync_every steps, and whenever the loop evaluates or ends at this step."""
    cfg = run.cfg
    if cfg.rollout.backend != "server":
        return
    evaluates = (cfg.eval.every and run.step % cfg.eval.every == 0) or run.step == cfg.steps
    if run.step % cfg.rollout.sync_every == 0 or evaluates:
        push_weights(run, engine)


def _failure(action) -> str | None:
    """The message of the R1kitError `action()` raises, or None when it succeeds."""
    try:
        action()
    except R1kitError as e:
        return str(e)
    return None


def push_weights(run, engine) -> Path:
    """export_weights to <run dir>/sync (every rank takes part: fsdp2 gathers the shards; rank 0 writes), then
    rank 0 alone asks the server to load it. Every rank raises the same R1kitError on a failure of either."""
    from r1kit.train.dist import Dist
    from r1kit.train.grpo import export_weights

    dist = getattr(run, "dist", None) or Dist()
    folder = (Path(run.dir) / "sync").resolve()
    error = _failure(lambda: export_weights(run, folder))
    if not any(dist.gather(error)) and dist.is_main:
        error = _failure(lambda: engine.update_weights(str(folder)))
    errors = [e for e in dist.gather(error) if e]
    if errors:
        raise R1kitError(f"weight sync after step {run.step} failed; stopping rather than sampling from stale "
                         f"weights: {errors[0]}")
    return folder


class RolloutAhead:
    """One-step off-policy sampling (rollout.max_staleness = 1): while step s trains, the server samples step
    s+1's batch from the weights it holds, those of step s; the loop then waits for that batch (`settle`)
    before the server loads step s+1's weights, so no batch mixes weights and each is exactly one step stale.

        ahead = RolloutAhead(engine)
        grpo_step(run, engine, ahead)      # takes the batch sampled during the previous step, starts the next
        ahead.settle(); sync_policy(run, engine)

    The examples of the batch in flight are already taken from the run's stream: `taken` says how many, and a
    checkpoint records the position before them (so a resumed run samples them again, from its weights)."""

    def __init__(self, engine):
        from concurrent.futures import ThreadPoolExecutor

        self.engine, self.pool, self.pending, self.taken = engine, ThreadPoolExecutor(1), None, 0
        self.staleness = 0
        """Steps between the weights that sampled the last batch handed over and the weights it trains."""

    def sample(self, run) -> tuple[list, list[str], object]:
        """(examples, prompts, rollout) of step run.step, and the start of step run.step + 1's sampling."""
        from r1kit.train.grpo import rollout_request, sample_rollout

        if self.pending is None:  # the first step, or after a resume: sample now, from the current weights
            current, self.staleness = sample_rollout(run, self.engine), 0
        else:
            examples, prompts, future = self.pending
            current, self.staleness = (examples, prompts, future.result()), 1  # a server error surfaces here
        self.pending, self.taken = None, 0
        if run.step + 1 < run.cfg.steps:
            examples, prompts, params = rollout_request(run, run.step + 1)
            self.pending = (examples, prompts, self.pool.submit(self.engine.generate, prompts, params))
            self.taken = run.cfg.rollout.prompts_per_step
        return current

    def settle(self) -> None:
        """Wait until the batch in flight is sampled (its error, if any, is raised by the next `sample`)."""
        if self.pending is not None:
            self.pending[2].exception()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
