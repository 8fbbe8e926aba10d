"""The demo's tiny base model: a random GPT-2 taught the answer format, reasoning only now and then.

R1-Zero starts from a *base* model that can already write answers and can, now and then, reason
before answering (DeepSeek-R1 §2.2). At toy scale we make one: a random transformers model with a
locally trained tokenizer, pretrained by SFT in two phases on correct examples behind the R1-Zero
template. Phase 1 ("learn") is mostly worked solutions (column sums inside <think>…</think>), so the
tiny model learns the algorithm from few examples; phase 2 ("settle") has `steps_share` (30%)
worked solutions and the rest direct answers with an empty think block. The result mostly answers
directly and mostly wrong; RL then teaches it that writing the steps out pays (the R1-Zero effect
at toy scale).

GPT-2 (learned absolute positions) rather than Qwen2: with the fixed layout of these prompts it
learned the digit look-ups sooner here; `arch` switches it (any r1kit.models arch).

`languages` (issue 10) writes the worked traces with words, in English, Chinese or mixed line by line
(r1kit.data.arithmetic), so RL on the base model can show the report's language mixing; the tokenizer
then also learns those words (r1kit.models.corpus.bilingual_lines). Left empty, nothing changes.

The result is cached by a hash of its settings, so a second demo run skips pretraining.
"""

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1kit.data.arithmetic import LANGUAGES as TRACE_LANGUAGES
from r1kit.errors import R1kitError


@dataclass
class BaseModelConfig:
    arch: str = "gpt2"
    size: str = "tiny"
    overrides: dict = field(default_factory=dict)
    """Model config fields over the named size (r1kit.models.MODEL_CONFIGS)."""
    digits: int = 5
    steps_share: float = 0.3
    """Share of examples that show per-digit steps inside <think>, in the final phase."""
    learn_steps: int = 700
    """Phase 1: optimizer steps on data that is mostly (learn_share) worked solutions, so the
    tiny model learns the algorithm with few examples."""
    learn_share: float = 0.9
    pretrain_steps: int = 150
    """Phase 2: optimizer steps at steps_share, which sets how often the base model reasons."""
    batch_size: int = 64
    lr: float = 3e-3
    n_examples: int = 20000
    seed: int = 0
    languages: dict[str, float] = field(default_factory=dict)
    """Shares of worked traces written in each language, e.g. {en: 0.5, zh: 0.2, mixed: 0.3} (keys en,
    zh, mixed; shares >= 0 summing to 1). Empty: today's traces with no words, and today's tokenizer."""
    summary_share: float = 0.0
    """Share of solutions with a readable summary after </think> (" so the sum is 80235.")."""

    def __post_init__(self):
        unknown = sorted(set(self.languages) - set(TRACE_LANGUAGES))
        if unknown:
            raise R1kitError(f"base.languages: unknown language {unknown[0]!r} (use {', '.join(TRACE_LANGUAGES)})")
        shares = list(self.languages.values())
        if shares and (min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-6):
            raise R1kitError(f"base.languages: shares must be >= 0 and sum to 1, got {self.languages}")
        if not 0.0 <= self.summary_share <= 1.0:
            raise R1kitError(f"base.summary_share must be in [0, 1], got {self.summary_share}")


def cache_root() -> Path:
    return Path(os.environ.get("R1KIT_CACHE") or Path.home() / ".cache" / "r1kit")


def cache_key(cfg: BaseModelConfig) -> str:
    from r1kit import __version__

    settings = asdict(cfg)
    for key in ("languages", "summary_share"):  # at their defaults: the key of the caches made before them
        if not settings[key]:
            del settings[key]
    if cfg.languages:  # worded traces, version 2: the three-token zh header (a one-token one was cached before)
        settings["worded_traces"] = 2
    # layout 2: the model records its prompt template as its chat template (older caches do not);
    # layout 3: that template keeps the reasoning of a trained (last) assistant turn, as SFT needs
    blob = json.dumps({**settings, "version": __version__, "layout": 3}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretraining_pairs(task, examples: list, share: float, template: str, tokenizer, seed: int,
                      languages: dict[str, float] | None = None, summary_share: float = 0.0) -> list[tuple[str, str]]:
    """(prompt, completion) pairs; a `share` of the completions work the problem out.

    languages: the worked trace's language is drawn by these shares ({} / None: no words); a
    `summary_share` of completions get the readable summary. Each has its own generator, so the
    worked-or-direct draws are the same as without them.
    """
    from r1kit.data.templates import render_prompt

    rng, lang_rng, summary_rng = (random.Random(k) for k in (seed, f"{seed}-languages", f"{seed}-summary"))
    names, weights = list(languages or {}), list((languages or {}).values())
    pairs = []
    for ex in examples:
        show_steps = rng.random() < share
        language = lang_rng.choices(names, weights)[0] if names else None
        summary = bool(summary_share) and summary_rng.random() < summary_share
        pairs.append((render_prompt(ex.problem, template, tokenizer),
                      task.solution(ex, show_steps=show_steps, language=language, summary=summary)))
    return pairs


def build_base_model(cfg: BaseModelConfig, out_dir: Path, template: str = "r1_zero", log=print) -> Path:
    """Build the tokenizer and a random model, pretrain it by SFT in two phases, save to `out_dir`.

    Phase 1 (learn_steps, mostly worked solutions) teaches the algorithm; phase 2 (pretrain_steps,
    steps_share worked) leaves a model that reasons only now and then, as a base model does. The
    saved tokenizer's chat template is `template` in chat form (r1kit.models.save_model), so
    `r1kit serve` and `r1kit eval` prompt the model as it was trained.
    """
    from r1kit.data.tasks import get_task
    from r1kit.models import build_tokenizer, load_model, load_tokenizer, new_model, save_model
    from r1kit.models.corpus import bilingual_lines, default_corpus
    from r1kit.train.sft import SFTConfig, sft_train

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tokenizer = build_tokenizer(default_corpus() + bilingual_lines() if cfg.languages else None)
    new_model(cfg.arch, cfg.size, tmp, seed=cfg.seed, tokenizer=tokenizer, **cfg.overrides)
    model, tokenizer = load_model(str(tmp)), load_tokenizer(str(tmp))
    task = get_task("arithmetic", digits=cfg.digits, seed=cfg.seed)
    examples = task.examples("train", cfg.n_examples)
    t0 = time.perf_counter()
    # The settle phase draws batches at random: in length-grouped batches the all-direct and
    # all-worked batches pull the reason-or-not token back and forth, and its final probability
    # lands wherever the last few batches left it instead of near steps_share.
    phases = [("learn", cfg.learn_steps, cfg.learn_share, cfg.lr, True),
              ("settle", cfg.pretrain_steps, cfg.steps_share, cfg.lr * 0.3, False)]
    for i, (name, steps, share, lr, grouped) in enumerate(phases):
        if steps <= 0:
            continue
        pairs = pretraining_pairs(task, examples, share, template, tokenizer, cfg.seed + i, cfg.languages,
                                  cfg.summary_share)
        sft = SFTConfig(steps=steps, batch_size=cfg.batch_size, lr=lr, seed=cfg.seed + i, group_by_length=grouped)
        sft_train(model, tokenizer, pairs, sft, on_step=_logger(log, name, steps, t0))
    save_model(model, tokenizer, tmp, template=template)  # served / evaluated in the prompt form it learned
    meta = {**asdict(cfg), "template": template, "pretrain_seconds": time.perf_counter() - t0}
    (tmp / "r1kit_base.json").write_text(json.dumps(meta, indent=1))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def _logger(log, phase: str, total: int, t0: float):
    def on_step(step: int, loss: float) -> None:
        if step % 100 == 0 or step == total - 1:
            log(f"      pretrain ({phase}) step {step + 1}/{total}  loss {loss:.3f}  ({time.perf_counter() - t0:.0f}s)")
    return on_step


def get_base_model(cfg: BaseModelConfig, reuse: bool = True, log=print) -> tuple[Path, bool]:
    """Path of the cached base model for `cfg` (built if absent); also whether it was reused."""
    path = cache_root() / f"demo-base-{cache_key(cfg)}"
    if reuse and (path / "config.json").is_file() and (path / "r1kit_base.json").is_file():
        return path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    return build_base_model(cfg, path, log=log), False
