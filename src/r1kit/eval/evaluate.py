"""Sampled evaluation on a list of examples through the rollout engine.

pass@1 is the mean accuracy over k samples per problem, averaged over problems (DeepSeek-R1
§3, "Evaluation Setup"): it is the estimator the report uses instead of greedy decoding. The
score is the training accuracy reward itself, so training and evaluation cannot disagree.
"""

from dataclasses import dataclass, field


@dataclass
class EvalResult:
    pass_at_1: float
    """Mean over problems of the mean accuracy over the k samples."""
    n_problems: int
    samples_per_problem: int
    mean_length: float
    """Mean completion length in tokens."""
    per_problem: list[float] = field(default_factory=list)
    """Each problem's mean accuracy over its k samples."""
    texts: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> float:
        """Standard error of pass@1 across problems: sample std (n - 1) / sqrt(n), as r1kit.eval.metrics."""
        from r1kit.eval.metrics import mean_stderr

        return mean_stderr(self.per_problem).stderr if len(self.per_problem) >= 2 else 0.0


def evaluate(engine, task, examples: list, *, template: str = "r1_zero", samples: int = 4,
             temperature: float = 0.6, top_p: float = 0.95, max_new_tokens: int = 256,
             stop: list[str] | tuple[str, ...] = (), seed: int = 0, prompts_per_batch: int = 64) -> EvalResult:
    """Sample `samples` completions per example and score them with the task's verifier."""
    from r1kit.data.templates import render_prompt
    from r1kit.rewards.accuracy import accuracy_rewards
    from r1kit.rollout import SamplingParams

    per_problem, texts, lengths = [], [], []
    for start in range(0, len(examples), prompts_per_batch):
        chunk = examples[start:start + prompts_per_batch]
        prompts = [render_prompt(ex.problem, template, engine.tokenizer) for ex in chunk]
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                n=samples, stop=tuple(stop), seed=seed + start)
        out = engine.generate(prompts, params)
        lengths += out.completion_mask.sum(1).tolist()
        texts += out.texts
        scores = accuracy_rewards(out.texts, [ex for ex in chunk for _ in range(samples)], task)  # one batched check
        per_problem += [sum(s or 0.0 for s in scores[i * samples:(i + 1) * samples]) / samples  # None (no gold) = 0
                        for i in range(len(chunk))]
    n = len(per_problem)
    return EvalResult(pass_at_1=sum(per_problem) / max(n, 1), n_problems=n, samples_per_problem=samples,
                      mean_length=sum(lengths) / max(len(lengths), 1), per_problem=per_problem, texts=texts)


def reasoning_share(texts: list[str]) -> float:
    """Share of completions whose think block holds any reasoning (the demo's "shows its steps")."""
    from r1kit.data.templates import parse_completion

    return sum(bool((parse_completion(t).reasoning or "").strip()) for t in texts) / max(len(texts), 1)
