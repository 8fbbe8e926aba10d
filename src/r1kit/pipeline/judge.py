"""An LLM judge for traces whose gold r1kit.verify cannot check (DeepSeek-R1, arXiv 2501.12948, §2.3.3: data
"evaluated by a generative reward model, feeding the ground-truth and model predictions into DeepSeek-V3").

    judge = EndpointBackend("http://127.0.0.1:8001/v1", "judge-model")
    judge_samples(judge, samples, {ex.id: ex for ex in examples}, on_judged=log)   # sample["judged"] = bool

The judge sees the problem, the reference answer and the response's final part (never its reasoning) and
answers CORRECT or INCORRECT (`parse_judgement`: the last such word of its reply; anything else: None, the
sample stays unjudged). One request per sample, temperature 0, through the same endpoint client as the
teacher (retries, concurrency), so a judge that fails for good raises EndpointError after keeping what
was already judged (on_judged runs as each answer arrives).
"""

from __future__ import annotations

import re
from typing import Callable

JUDGE_PROMPT = """You are grading the final answer of a response to a problem, given the reference answer.

Problem:
{problem}

Reference answer:
{reference}

Final part of the response:
{response}

Is the response's final answer equivalent to the reference answer? Reply with one word: CORRECT or INCORRECT."""

_WORD = re.compile(r"\b(INCORRECT|CORRECT)\b", re.IGNORECASE)


def judge_prompt(problem: str, reference: str, response: str) -> str:
    """The judge's user turn (JUDGE_PROMPT filled in)."""
    return JUDGE_PROMPT.format(problem=problem.strip(), reference=str(reference).strip(), response=response.strip())


def parse_judgement(reply: str) -> bool | None:
    """True / False by the last CORRECT / INCORRECT (any case, a whole word) in `reply`; None when neither."""
    words = _WORD.findall(reply or "")
    return None if not words else words[-1].upper() == "CORRECT"


def needs_judge(sample: dict) -> bool:
    """A sample verify could not score (correct is None) that has a final part and no judgement yet."""
    return sample.get("correct") is None and sample.get("judged") is None and bool((sample.get("content") or "").strip())


def judge_samples(judge, samples: list[dict], examples: dict, *, max_tokens: int = 1024,
                  on_judged: Callable[[dict, bool | None], None]) -> None:
    """Ask `judge` (a Sampler: eval.endpoint.EndpointBackend) about every sample; on_judged(sample, verdict)
    as each reply arrives. `examples`: problem id -> Example (its problem and answer)."""
    requests = []
    for s in samples:
        ex = examples[s["problem_id"]]
        requests.append({"messages": [{"role": "user", "content": judge_prompt(ex.problem, ex.answer, s["content"])}],
                         "n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "seed": 0, "stop": []})
    if requests:
        judge.generate(requests, lambda i, completions: on_judged(samples[i], parse_judgement(completions[0].content)))
