"""The DeepSeek-R1 report's claims at toy scale, by one command on a laptop CPU (issue 10, item 6).

    python benchmarks/r1_toy_study.py [--out runs/r1-study] [--seeds 0,1,2] [--problems 200]

Runs recipes/r1-tiny.yaml through `r1kit pipeline` (so a rerun skips what finished and resumes what was
cut), plus two stages for the distillation comparison, then evaluates every model on the same held-out
problems by the R1 protocol (T = 0.6, top-p 0.95, 4 samples each) and writes `<out>/study/report.md` with
its plots:

(a) multi-stage R1 against R1-Zero: pass@1, and readability: the share of samples whose reasoning mixes
    English and Chinese, is wholly Chinese, or is malformed (no closed think block or no tagged answer);
(b) distillation, the analogue of Table 6: the final R1 model as teacher, a smaller pretrained student,
    at equal student training sequences (`STUDENT_SEQUENCES`): SFT on the teacher's filtered samples, vs
    GRPO run directly on the student, vs on-policy distillation (per-token reverse KL to the teacher).

Each seed runs in <out>/seed-<s>/ (its report in seed-<s>/study/report.md); <out>/report.md gives the mean
± sample std across seeds. Evaluations are cached in seed-<s>/study/eval-<stage>.json by the model's content hash.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_SEQUENCES = 4800
"""Student sequences trained on, per method: SFT 150 steps x 32 rows; GRPO and on-policy 75 steps x 64 samples."""

A_ROWS = [("base", "base model"), ("r1_zero", "R1-Zero (GRPO, accuracy reward)"),
          ("cold_start", "R1 stage 1: cold-start SFT"), ("reasoning_rl", "R1 stage 2: reasoning RL + language reward"),
          ("sft", "R1 stage 3: rejection sampling + SFT of the base"),
          ("all_scenarios_rl", "R1 stage 4: all-scenario RL (= R1)")]
B_ROWS = [("student_base", "student base model (2 layers)"), ("distill", "SFT distillation from R1"),
          ("student_grpo", "GRPO on the student (R1-Zero recipe)"),
          ("student_onpolicy", "on-policy distillation from R1 (reverse KL)"),
          ("all_scenarios_rl", "teacher: R1 (4 layers)")]


def study_stages(seed: int = 0) -> dict:
    """recipes/r1-tiny.yaml's stages plus the two comparison stages of (b); with `seed` != 0 every stage but
    the base models (built once, cached) trains and samples with that seed."""
    from r1kit.config import _merge, read_yaml

    stages = read_yaml(ROOT / "recipes" / "r1-tiny.yaml")["stages"]
    steps = STUDENT_SEQUENCES // 64
    stages["distill"] = _merge(stages["distill"], {"steps": STUDENT_SEQUENCES // 32})
    stages["student_grpo"] = _merge(stages["r1_zero"], {"model": {"name_or_path": "${student_base}"}, "steps": steps,
                                                        "eval": {"every": 25}, "save_every": 25})
    onpolicy = {k: v for k, v in stages["r1_zero"].items() if k not in ("kind", "rewards")}
    stages["student_onpolicy"] = _merge(onpolicy, {"kind": "onpolicy", "model": {"name_or_path": "${student_base}"},
                                                   "teacher": {"name_or_path": "${all_scenarios_rl}", "device": "cpu"},
                                                   "steps": steps, "eval": {"every": 25}, "save_every": 25})
    if seed:
        stages = {n: spec if spec["kind"] == "base_model" else {**spec, "seed": seed} for n, spec in stages.items()}
    return stages


def classify(completion: str) -> str:
    """malformed | direct (no words in the reasoning) | en | zh | mixed (both languages in the reasoning)."""
    from r1kit.data.templates import parse_completion
    from r1kit.rewards.language import count_words

    parsed = parse_completion(completion)
    if parsed is None or not parsed.think_closed or parsed.answer is None:
        return "malformed"
    words = count_words(parsed.reasoning or "")
    if words["en"] and words["zh"]:
        return "mixed"
    return "en" if words["en"] else "zh" if words["zh"] else "direct"


SETTINGS = {"protocol": (0.6, 0.95), "t1": (1.0, 1.0)}
"""Each model is sampled twice: by the R1 protocol (T 0.6, top-p 0.95: pass@1) and as RL rollouts sample
(T 1.0, top-p 1.0), where a minority language the protocol's top-p cuts off shows up."""


def evaluate_model(path: str, problems: int, temperature: float, top_p: float) -> dict:
    """pass@1 (± stderr), mean length and the readability classes of `path` on the held-out problems."""
    from r1kit.data import get_task
    from r1kit.models import load_model, load_tokenizer
    from r1kit.rollout import RolloutEngine
    from r1kit.rollout.evaluate import EvalSettings, evaluate
    from r1kit.rollout.sampler import EngineSampler

    task = get_task("arithmetic", digits=5, seed=0)
    model, tok = load_model(path, device="cpu").eval(), load_tokenizer(path)
    settings = EvalSettings(samples=4, temperature=temperature, top_p=top_p, max_new_tokens=128,
                            stop=("</answer>",), seed=0, problems_per_batch=64)
    t0 = time.perf_counter()
    res = evaluate(EngineSampler(RolloutEngine(model, tok), "r1_zero"), task, task.examples("test", problems), settings)
    labels = [classify(t) for t in res.texts]
    shares = {k: labels.count(k) / len(labels) for k in ("en", "zh", "mixed", "direct", "malformed")}
    worked = [t for t, label in zip(res.texts, labels) if label in ("en", "zh", "mixed")]
    return {"pass@1": res.pass_at_1, "stderr": res.stderr, "mean_length": res.mean_length, **shares,
            "samples": len(labels), "example": worked[0] if worked else (res.texts[0] if res.texts else ""),
            "eval_seconds": time.perf_counter() - t0}


def evaluations(results: dict, out: Path, problems: int) -> dict:
    cache = out / "study"
    cache.mkdir(parents=True, exist_ok=True)
    evals = {}
    for name in dict.fromkeys(n for n, _ in A_ROWS + B_ROWS):
        path = cache / f"eval-{name}.json"
        key = f"{results[name]['hash']}:{problems}"
        old = json.loads(path.read_text()) if path.is_file() else {}
        if old.get("key") != key:
            print(f"study: evaluating {name} ({results[name]['path']})", flush=True)
            old = {"key": key, **{k: evaluate_model(results[name]["path"], problems, *v) for k, v in SETTINGS.items()}}
            path.write_text(json.dumps(old, indent=1, ensure_ascii=False))
        evals[name] = old
    return evals


def _row(label: str, e: dict, seconds: float | None) -> str:
    p, t = e["protocol"], e["t1"]
    time_cell = f"{seconds / 60:.1f}" if seconds is not None else "–"
    pct = lambda x: f"{100 * x:.0f}%"  # noqa: E731
    return (f"| {label} | {100 * p['pass@1']:.1f} ± {100 * p['stderr']:.1f} | {pct(1 - p['direct'] - p['malformed'])} | "
            f"{pct(p['mixed'])} | {100 * t['pass@1']:.1f} | {pct(t['mixed'])} | {pct(t['zh'])} | {pct(t['malformed'])} | "
            f"{p['mean_length']:.0f} | {time_cell} |")


HEADER = ("| model | pass@1 (%) | shows reasoning | mixed-language | pass@1 at T=1 (%) | mixed at T=1 | all-Chinese "
          "at T=1 | malformed at T=1 | mean tokens | stage minutes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def cumulative_minutes(results: dict, names: list[str]) -> float:
    return sum(results[n]["seconds"] for n in names) / 60


def plots(results: dict, evals: dict, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from r1kit.train.metrics import read_metrics

    names = []
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(A_ROWS))
    ax.bar([x - 0.2 for x in xs], [evals[n]["protocol"]["pass@1"] for n, _ in A_ROWS], 0.4, label="pass@1 (T=0.6)")
    ax.bar([x + 0.2 for x in xs], [evals[n]["t1"]["mixed"] + evals[n]["t1"]["zh"] for n, _ in A_ROWS], 0.4,
           label="reasoning not (only) in English, at T=1")
    ax.set_xticks(list(xs), [n for n, _ in A_ROWS], rotation=20)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("(a) R1-Zero vs the four R1 stages: accuracy and language")
    fig.tight_layout()
    fig.savefig(out / "a_accuracy_language.png", dpi=110)
    names.append("a_accuracy_language.png")
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, runs in (("r1_zero", "R1-Zero"), ("reasoning_rl", "R1 stage 2"), ("all_scenarios_rl", "R1 stage 4"),
                       ("student_grpo", "student GRPO"), ("student_onpolicy", "student on-policy")):
        rows = [r for r in read_metrics(Path(results[name]["path"]).parents[1] / "metrics.jsonl") if "eval/pass@1" in r]
        ax.plot([r["step"] for r in rows], [r["eval/pass@1"] for r in rows], marker="o", label=runs)
    ax.axhline(evals["distill"]["protocol"]["pass@1"], color="gray", linestyle="--", label="student SFT distillation (end)")
    ax.set_xlabel("RL step (64 samples each)")
    ax.set_ylabel("held-out pass@1 (100 problems x 4)")
    ax.legend(fontsize=8)
    ax.set_title("Held-out pass@1 during training")
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=110)
    names.append("training_curves.png")
    plt.close("all")
    return names


def filter_counts(out: Path, results: dict) -> list[str]:
    lines = ["| generate stage | samples | correct | kept | removed by filter | SFT rows |", "|---|---:|---:|---:|---|---:|"]
    for name in ("cold_start_data", "rejection_sampling", "distill_data"):
        report = json.loads((Path(results[name]["path"]).parent / "report.json").read_text())
        removed = ", ".join(f"{k} {v}" for k, v in report["removed"].items() if v) or "none"
        lines.append(f"| {name} | {report['samples']} | {report['correct']} | {report['kept']} | {removed} | "
                     f"{report['rows']} |")
    return lines


def write_report(results: dict, evals: dict, out: Path, wall: float, problems: int) -> Path:
    import platform

    import torch

    study = out / "study"
    figures = plots(results, evals, study)
    stage_rows = [f"| {n} | {r['status']} | {r['seconds'] / 60:.1f} |" for n, r in results.items()]
    r1_names = ["cold_start_data", "cold_start", "reasoning_rl", "rejection_sampling", "sft", "all_scenarios_rl"]
    text = [
        "# The R1 report's claims at toy scale", "",
        f"One seed's run of `python benchmarks/r1_toy_study.py`, in {out}, on {platform.machine()} with {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}. Every model below is evaluated on the same {problems} held-out "
        "5-digit additions, 4 samples each, twice: by the R1 protocol, T = 0.6 and top-p 0.95 (pass@1 = mean "
        "accuracy, ± its standard error over problems), and as RL rollouts sample, T = 1 and top-p 1, where a "
        "minority language that top-p 0.95 cuts off shows up. Reasoning is classed by its words: English, "
        "Chinese, mixed (both in one trace), none (a direct answer), or malformed (no closed think block or no "
        "tagged answer).", "",
        "## (a) Multi-stage R1 against R1-Zero", "", HEADER,
        *[_row(label, evals[n], results[n]["seconds"]) for n, label in A_ROWS], "",
        f"R1-Zero's stages took {cumulative_minutes(results, ['r1_zero']):.1f} min; R1's stages (cold-start data "
        f"from R1-Zero through stage 4) {cumulative_minutes(results, r1_names):.1f} min more.", "",
        "## (b) Distillation vs RL on the student, at equal student training sequences", "",
        f"Each student method trains on {STUDENT_SEQUENCES} sequences: SFT 150 steps x 32 teacher samples; GRPO "
        "and on-policy distillation 75 steps x 64 student samples (8 prompts x 8).", "", HEADER,
        *[_row(label, evals[n], results[n]["seconds"] if n != "all_scenarios_rl" else None) for n, label in B_ROWS],
        "", "SFT distillation's minutes exclude sampling the teacher (distill_data: "
        f"{results['distill_data']['seconds'] / 60:.1f} min).", "",
        "## Filters (one run)", "", *filter_counts(out, results), "",
        "## Stages", "", "| stage | this run | minutes |", "|---|---|---:|", *stage_rows, "",
        f"This invocation's wall time: {wall / 60:.1f} min (stages skipped as done count their earlier minutes "
        "in the table, not here).", "", *[f"![{f}]({f})" for f in figures], "",
    ]
    text += ["## One sample per model (T = 0.6, the first that shows its reasoning)", ""]
    for name in dict.fromkeys(n for n, _ in A_ROWS + B_ROWS):
        text += [f"{name}:", "```", evals[name]["protocol"]["example"].strip(), "```", ""]
    path = study / "report.md"
    path.write_text("\n".join(text))
    return path


def run_seed(out: Path, seed: int, problems: int, progress: bool) -> tuple[dict, dict]:
    """One seed's pipeline, evaluations and report in `out`."""
    from r1kit.pipeline.runner import PipelineConfig, run_pipeline

    t0 = time.perf_counter()
    results = run_pipeline(PipelineConfig(out=str(out), stages=study_stages(seed)), progress=progress)
    evals = evaluations(results, out, problems)
    write_report(results, evals, out, time.perf_counter() - t0, problems)
    return results, evals


def combined_report(out: Path, runs: dict[int, tuple[dict, dict]], problems: int) -> Path:
    """Mean ± sample std across seeds of pass@1 and the mixed-language share, per model."""
    from statistics import mean, stdev

    def cell(name: str, setting: str, key: str, scale: float = 100) -> str:
        xs = [scale * evals[name][setting][key] for _, evals in runs.values()]
        return f"{mean(xs):.1f} ± {stdev(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"

    head = ("| model | pass@1 (%) | mixed-language (%) | pass@1 at T=1 (%) | mixed at T=1 (%) | pass@1 per seed |\n"
            "|---|---:|---:|---:|---:|---|")
    def rows(table):
        return [f"| {label} | {cell(n, 'protocol', 'pass@1')} | {cell(n, 'protocol', 'mixed')} | "
                f"{cell(n, 't1', 'pass@1')} | {cell(n, 't1', 'mixed')} | "
                + ", ".join(f"{100 * ev[n]['protocol']['pass@1']:.1f}" for _, ev in runs.values()) + " |"
                for n, label in table]
    minutes = [sum(r["seconds"] for r in results.values()) / 60 for results, _ in runs.values()]
    text = ["# The R1 report's claims at toy scale, over seeds", "",
            f"Seeds {', '.join(map(str, runs))} (every stage after the two base models, which are built once); "
            f"{problems} held-out problems x 4 samples per evaluation; mean ± sample standard deviation across "
            "seeds. Per-seed reports with every column, filter counts, stage times and plots: "
            + ", ".join(f"[seed {s}](seed-{s}/study/report.md)" for s in runs) + ".", "",
            "## (a) Multi-stage R1 against R1-Zero", "", head, *rows(A_ROWS), "",
            "## (b) Distillation vs RL on the student, at equal student training sequences", "", head, *rows(B_ROWS), "",
            "Pipeline minutes per seed (all stages, base models included where built): "
            + ", ".join(f"{m:.1f}" for m in minutes) + ".", ""]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path


def main(argv: list[str] | None = None) -> int:
    from r1kit.errors import R1kitError

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/r1-study")
    p.add_argument("--seeds", default="0", help="comma-separated; each seed's run goes to <out>/seed-<s>/")
    p.add_argument("--problems", type=int, default=200, help="held-out problems per evaluation")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        runs = {s: run_seed(out / f"seed-{s}", s, args.problems, not args.no_progress) for s in seeds}
    except R1kitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"error: --seeds must be comma-separated integers, got {args.seeds!r}", file=sys.stderr)
        return 2
    print(combined_report(out, runs, args.problems).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
