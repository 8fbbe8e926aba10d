"""The `reward_model` reward: a Bradley–Terry reward model's score of the final answer (issue 10, stage 4).

    rewards: {reward_model: 1.0}
    reward_options: {reward_model: {path: runs/rm/checkpoints/step-000200}}   # or the run dir: its latest

The reward model is a causal LM with a scalar head, trained by `r1kit train rm` (r1kit.train.rm). Its
checkpoint is a plain Hugging Face folder that `AutoModelForSequenceClassification` loads (num_labels=1,
config.pad_token_id set): the backbone, a linear `score` head (hidden -> 1) and the tokenizer. The score
of a sequence is the head's output at its last real token.

What it scores (the R1 report, section 2.3.4: for general data the reward model judges only the final
summary, not the reasoning): the conversation [user: example.problem, assistant: final], rendered by
the RM's chat template (`rm_text`), where final is the completion's text after its last </think>
(`split_reasoning`, honouring `ctx.think_open`). So the reasoning never changes the score. A completion
with no final part (reasoning never closed, or nothing after it) gets None, the reward does not apply
(or the `missing` option's score).
The model loads once per (path, device, dtype) and scores completions in batches; any failure at scoring
time is logged and gives None, never an exception (the reward contract).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from r1kit.data.templates import split_reasoning
from r1kit.errors import R1kitError

log = logging.getLogger(__name__)


def rm_text(tokenizer, prompt: tuple[dict, ...] | list[dict], response: str) -> str:
    """The text the reward model reads: the prompt turns plus the response as the assistant's turn,
    in the tokenizer's chat template (which ends the turn with its end marker); without a chat template,
    the turns' contents joined by blank lines."""
    messages = [dict(m) for m in prompt] + [{"role": "assistant", "content": response}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n\n".join(m["content"] for m in messages)


def sequence_rewards(model, tokenizer, texts: list[str], max_length: int = 1024):
    """r(text) for each text: the scalar head at the last real token. Returns (B,) float32, with gradient
    when grad is enabled. Right-padded; too-long texts lose their *start* (the response stays whole)."""
    import torch

    tokenizer.truncation_side = "left"
    enc = tokenizer(texts, padding=True, padding_side="right", truncation=True, max_length=max_length,
                    add_special_tokens=False, return_tensors="pt")
    device = next(model.parameters()).device
    out = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
    return out.logits.squeeze(-1).to(torch.float32)                                  # (B,)


def reward_model_from_lm(name_or_path: str | Path, *, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer): a causal LM (or a saved reward model) as AutoModelForSequenceClassification with
    one output. A causal LM's new `score` head is initialised by transformers; R1kitError if the
    architecture has no sequence-classification class."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from r1kit.models import load_tokenizer

    tokenizer = load_tokenizer(str(name_or_path))  # R1kitError for a missing local path
    hf_logging.disable_progress_bar()
    try:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "score.weight newly initialized" is expected for a causal LM
        model = AutoModelForSequenceClassification.from_pretrained(
            str(name_or_path), num_labels=1, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise R1kitError(f"cannot load {name_or_path} as a reward model: {first}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer


def resolve_checkpoint(path: str) -> Path:
    """`path` itself, or a run directory's latest checkpoint; R1kitError unless it is a reward model."""
    p = Path(path).expanduser()
    latest = p / "checkpoints" / "latest"
    if latest.is_file():
        p = latest.parent / latest.read_text().strip()
    config = p / "config.json"
    if not config.is_file():
        raise R1kitError(f"reward_model: no model at {path!r} (set reward_options.reward_model.path)")
    import json

    arch = (json.loads(config.read_text()).get("architectures") or [""])[0]
    if not arch.endswith("ForSequenceClassification"):
        raise R1kitError(f"reward_model: {path} is not a reward model ({arch or 'no architecture'}); "
                         "train one with `r1kit train rm`")
    return p


@functools.lru_cache(maxsize=2)
def load_reward_model(path: str, device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) of a trained reward model, loaded once per (path, device, dtype), in eval mode."""
    from r1kit.models.device import resolve_device

    model, tokenizer = reward_model_from_lm(resolve_checkpoint(path), dtype=dtype, device=resolve_device(device))
    return model.eval().requires_grad_(False), tokenizer


def reward_model_rewards(completions: list[str], examples: list, contexts: list, *, path: str = "",
                         device: str = "cpu", dtype: str = "float32", batch_size: int = 16,
                         max_length: int = 1024, missing: float | None = None) -> list[float | None]:
    """The batched reward: r(problem, final part) per completion; `missing` where there is no final part.

    Options: path (a reward model folder or `r1kit train rm` run directory), device (cpu, cuda, auto),
    dtype, batch_size (texts per forward), max_length (tokens kept, from the end), missing (the score of
    a completion without a final answer; None, the default, means "does not apply", which the weighted
    total counts as 0 -- above a bad answer's negative score, so a run may set it low, e.g. -5)."""
    import torch

    finals = [split_reasoning(c, getattr(ctx, "think_open", False))[1] for c, ctx in zip(completions, contexts)]
    scores: list[float | None] = [None if f else missing for f in finals]
    todo = [i for i, f in enumerate(finals) if f]
    if not todo:
        return scores
    try:
        model, tokenizer = load_reward_model(path, device, dtype)
        texts = [rm_text(tokenizer, ({"role": "user", "content": examples[i].problem},), finals[i]) for i in todo]
        with torch.no_grad():
            for start in range(0, len(todo), max(1, batch_size)):
                chunk = sequence_rewards(model, tokenizer, texts[start:start + batch_size], max_length)
                for i, s in zip(todo[start:start + batch_size], chunk.tolist()):
                    scores[i] = s
    except Exception:  # the reward contract: never raise; a broken model scores the batch None
        log.exception("reward_model: scoring failed; these samples get None")
        return [None] * len(completions)
    return scores


def reward_model_reward(completion: str, example, ctx, *, path: str = "", device: str = "cpu",
                        dtype: str = "float32", batch_size: int = 16, max_length: int = 1024,
                        missing: float | None = None) -> float | None:
    """One completion's reward model score (see `reward_model_rewards`)."""
    return reward_model_rewards([completion], [example], [ctx], path=path, device=device, dtype=dtype,
                                batch_size=batch_size, max_length=max_length, missing=missing)[0]


def reward_model_preflight(options: dict) -> None:
    """Before a run: the path is set, is a reward model, and loads (R1kitError otherwise)."""
    if not options.get("path"):
        raise R1kitError("reward_model: set reward_options.reward_model.path to a `r1kit train rm` checkpoint")
    load_reward_model(options["path"], options.get("device", "cpu"), options.get("dtype", "float32"))
