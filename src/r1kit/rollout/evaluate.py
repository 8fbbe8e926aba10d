"""The one evaluator: k samples per problem by one seeding and chunking rule, each scored by r1kit.verify.

    sampler = EngineSampler(RolloutEngine(model, tokenizer), template="r1_zero")
    result = evaluate(sampler, task, task.examples("test", 100), EvalSettings(samples=4, seed=0))
    result.pass_at_1, result.records[0].answer

The GRPO loop's held-out evaluation (train/grpo.py), the demo's before/after and `r1kit eval`
(eval/runner.py, which adds the per-sample file, resume and the report) all run `sample_and_score`.
It lives in rollout/ because it is sampling plus scoring: train/ and eval/ both reach this layer, and
neither may import the other (docs/ARCHITECTURE.md, "Layers").

The rule (DeepSeek-R1, arXiv 2501.12948, §3 "Evaluation Setup": k samples, pass@1 = mean accuracy):
  1. problems in order, in chunks of `problems_per_batch`: in chunk j = examples[j*size : (j+1)*size] every
     problem asks k samples with seed = seed * 1_000_003 + j;
  2. a sampler with `whole_batches` (the local engine: one generator per call) samples each chunk in one
     call, again whole when anything in it is missing, and keeps the missing samples; an endpoint
     (independent requests) is asked only for the missing samples;
  3. each sample is scored by `verify.score(task, ..., think_open=sampler.think_open)`; think_open means
     the rendered prompt ended inside an opened <think> (the R1 chat form).
So (checkpoint, settings, problems) fixes every sample, whichever caller asks.
  pass@1 = (1/P) sum_p c_p / n_p   over the P problems with a scored sample; n_p scored samples, c_p right.
A verdict of None (the gold cannot be checked) drops that sample; a problem with none left is `unscored`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import sqrt
from typing import Callable, Protocol

SEED_STRIDE = 1_000_003  # chunk j of a run with seed s samples with seed s * SEED_STRIDE + j


@dataclass(frozen=True)
class EvalSettings:
    """How to sample an evaluation (the report: T = 0.6, top-p 0.95, k = 4..64 by benchmark)."""

    samples: int = 4
    """k: samples per problem."""
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0
    problems_per_batch: int = 16
    """Problems per sampler call (one engine batch of problems_per_batch * k rows)."""


@dataclass
class Completion:
    """One sampled completion, as a sampler returns it."""

    text: str
    """What the scorer reads (an endpoint's: reasoning + "</think>" + content when there is reasoning)."""
    reasoning: str
    """The reasoning part; "" if none."""
    content: str
    """The final part; "" if none (e.g. cut off while reasoning)."""
    tokens: int | None
    """Completion tokens; None when an endpoint does not report usage."""
    finish_reason: str
    """"stop" or "length" (an endpoint may say something else, or "")."""


@dataclass(frozen=True)
class SampleRecord:
    """One scored sample: sample index `sample` < k of problem `problem_id`."""

    problem_id: str
    sample: int
    answer: str | None
    """The final answer verify extracted; None: nothing extractable."""
    correct: bool | None
    """None: the gold cannot be checked, so the sample is not scored."""
    tokens: int | None
    finish_reason: str
    completion: str
    reasoning: str


class Sampler(Protocol):
    """What `sample_and_score` samples from: `EngineSampler` here, eval.endpoint.EndpointBackend.

    A request is one chat turn and its settings: {"messages": [{"role": "user", "content": ...}], "n",
    "temperature", "top_p", "max_tokens", "seed", "stop"}; `generate` returns n completions per request,
    calling on_done(i, completions) as request i finishes."""

    think_open: bool
    whole_batches: bool

    def generate(self, requests: list[dict], on_done: Callable[[int, list], None] | None = None) -> list[list]: ...


def sample_and_score(sampler: Sampler, task, examples: list, s: EvalSettings, *,
                     user_text: Callable | None = None, missing: Callable | None = None,
                     on_problem: Callable[[int, object, list[SampleRecord]], None]) -> None:
    """Sample and score `examples` by the module's rule; on_problem(index, example, records) per problem.

    user_text(example) -> the user turn (default: the problem text, as training prompts it);
    missing(example) -> sample indices still wanted (default all k; `r1kit eval`'s resume passes what
    is not on disk). Only wanted samples reach on_problem. A whole-batch sampler gets one call per
    chunk; an endpoint gets every chunk's requests (seeded by their chunk) in one call, so that its
    `concurrency` requests stay in flight across chunk boundaries."""
    user_text = user_text or (lambda ex: ex.problem)
    missing = missing or (lambda ex: list(range(s.samples)))
    size, whole = s.problems_per_batch, sampler.whole_batches
    asks, requests = [], []
    for j, start in enumerate(range(0, len(examples), size)):
        wanted = [(start + i, ex, missing(ex)) for i, ex in enumerate(examples[start:start + size])]
        wanted = [a for a in wanted if a[2]] if not whole else wanted if any(a[2] for a in wanted) else []
        asks += wanted
        requests += [_request(user_text(ex), s, s.samples if whole else len(w), s.seed * SEED_STRIDE + j)
                     for _, ex, w in wanted]
        if whole and requests:
            _ask(sampler, task, asks, requests, on_problem)
            asks, requests = [], []
    if requests:
        _ask(sampler, task, asks, requests, on_problem)


def _ask(sampler: Sampler, task, asks: list, requests: list[dict], on_problem) -> None:
    """One sampler call; each problem's completions (the wanted ones) scored by verify as they arrive."""
    from r1kit.verify import score

    def done(i: int, completions: list) -> None:
        index, ex, wanted = asks[i]
        if sampler.whole_batches:
            completions = [completions[k] for k in wanted]
        if not wanted:
            return
        verdicts = score(task, [c.text for c in completions], [ex] * len(completions), think_open=sampler.think_open)
        on_problem(index, ex, [_record(ex, k, c, v) for k, c, v in zip(wanted, completions, verdicts)])

    sampler.generate(requests, done)


def _request(text: str, s: EvalSettings, n: int, seed: int) -> dict:
    return {"messages": [{"role": "user", "content": text}], "n": n, "temperature": s.temperature,
            "top_p": s.top_p, "max_tokens": s.max_new_tokens, "seed": seed, "stop": list(s.stop)}


def _record(ex, sample: int, c: Completion, verdict) -> SampleRecord:
    correct = None if verdict.score is None else verdict.score == 1.0
    return SampleRecord(ex.id, sample, verdict.answer, correct, c.tokens, c.finish_reason, c.text, c.reasoning)


@dataclass
class EvalResult:
    pass_at_1: float
    """Mean over scored problems of the share of right samples (module docstring)."""
    n_problems: int
    """Problems with at least one scored sample."""
    samples_per_problem: int
    mean_length: float
    """Mean completion length in tokens over all samples."""
    per_problem: list[float] = field(default_factory=list)
    """Each scored problem's share of right samples, in problem order."""
    texts: list[str] = field(default_factory=list)
    records: list[SampleRecord] = field(default_factory=list)
    """Every sample, problem by problem in problem order, samples in index order."""
    unscored: int = 0
    """Problems left out because no sample could be scored (their gold cannot be checked)."""

    @property
    def stderr(self) -> float:
        """Standard error of pass@1 across problems: s / sqrt(n), s the sample std (n - 1); 0.0 if n < 2."""
        n = len(self.per_problem)
        if n < 2:
            return 0.0
        return sqrt(sum((x - self.pass_at_1) ** 2 for x in self.per_problem) / (n - 1) / n)


def evaluate(sampler: Sampler, task, examples: list, s: EvalSettings, *,
             user_text: Callable | None = None) -> EvalResult:
    """Every problem's k samples through `sample_and_score`, summarised as an EvalResult."""
    by_problem: dict[int, list[SampleRecord]] = {}
    sample_and_score(sampler, task, examples, s, user_text=user_text,
                     on_problem=lambda i, ex, recs: by_problem.setdefault(i, []).extend(recs))
    records = [r for i in sorted(by_problem) for r in sorted(by_problem[i], key=lambda r: r.sample)]
    per_problem = []
    for i in sorted(by_problem):
        scored = [r.correct for r in by_problem[i] if r.correct is not None]
        if scored:
            per_problem.append(sum(scored) / len(scored))
    tokens = [r.tokens for r in records if r.tokens is not None]
    return EvalResult(pass_at_1=sum(per_problem) / max(len(per_problem), 1), n_problems=len(per_problem),
                      samples_per_problem=s.samples, mean_length=sum(tokens) / max(len(tokens), 1),
                      per_problem=per_problem, texts=[r.completion for r in records], records=records,
                      unscored=len(by_problem) - len(per_problem))


def reasoning_share(texts: list[str], think_open: bool = False) -> float:
    """Share of completions whose reasoning part holds any text (the demo's "shows its steps")."""
    from r1kit.data.templates import split_reasoning

    return sum(bool((split_reasoning(t, think_open)[0] or "").strip()) for t in texts) / max(len(texts), 1)
