"""The `r1kit` command line.

    r1kit demo [--out DIR]                                  R1-Zero on a laptop, before/after table
    r1kit train grpo --config recipes/X.yaml [--resume] [--section.key=value ...]
    r1kit train sft --config recipes/sft_tiny.yaml [--resume] [--section.key=value ...]
    r1kit train rm --config recipes/rm_tiny.yaml [--resume] [--section.key=value ...]
    r1kit train onpolicy --config recipes/onpolicy_tiny.yaml [--resume] [--section.key=value ...]
    r1kit pipeline recipes/r1-tiny.yaml [--out=DIR] [--until=STAGE] [--stages.NAME.key=value ...]
                                                            stages in order: skipped when done, resumed when cut
    r1kit distill --config recipes/distill-tiny.yaml [--teacher=M --student=M --method=sft|onpolicy ...]
                                                            teacher traces -> filter -> SFT student (or on-policy)
    r1kit model new --arch qwen2 --size tiny --out DIR      a tiny random model + local tokenizer
    r1kit model base --out DIR                              the demo's pretrained tiny base model
    r1kit eval --model DIR_OR_NAME --benchmark aime24,math500 [--base-url URL] [--out DIR] [--key=value ...]
                                                            the R1 evaluation protocol (pass@1, pass@k, cons@k)
    r1kit generate --model M [--base-url URL] --task T | --data FILE --out DIR [--filters.key=value ...]
                                                            traces for SFT: verified, filtered, resumable
    r1kit serve --model DIR_OR_NAME [--host 127.0.0.1 --port 8000 --api-key KEY]
                                                            OpenAI-compatible API + chat page, continuous batching
    r1kit sandbox check [--python /usr/bin/python3]         self-test the code sandbox (bubblewrap)

Bad input is reported as one line `error: ...` with exit code 2, never a traceback.
"""

import argparse
import sys

from r1kit.errors import R1kitError


def _cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.pipeline.demo import DemoConfig, run_demo
    from r1kit.config import from_dict, parse_overrides

    cfg = from_dict(DemoConfig, parse_overrides(extra))
    if args.out:
        cfg.out = args.out
    if args.fresh:
        cfg.reuse_base = False
    run_demo(cfg)
    return 0


def _cmd_train_grpo(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import load_config
    from r1kit.train.config import GRPORunConfig
    from r1kit.train.grpo import train_grpo

    cfg = load_config(GRPORunConfig, args.config, extra)
    if _rank_zero():
        print(f"r1kit: GRPO run in {cfg.out_dir} ({cfg.steps} steps, model {cfg.model.name_or_path})")
    metrics = train_grpo(cfg, resume=args.resume, progress=not args.no_progress)
    if not _rank_zero():  # under torchrun rank 0 reports
        return 0
    if "eval/pass@1" in metrics:
        print(f"held-out pass@1: {metrics['eval/pass@1']:.3f}")
    print(f"checkpoint: {metrics['checkpoint']}\nplot: {metrics['plot']}")
    return 0


def _cmd_train_sft(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import load_config
    from r1kit.train.sft_config import SFTRunConfig
    from r1kit.train.sft_run import train_sft

    cfg = load_config(SFTRunConfig, args.config, extra)
    if _rank_zero():
        print(f"r1kit: SFT run in {cfg.out_dir} ({cfg.steps} steps, model {cfg.model.name_or_path}, data {cfg.data.path})")
    metrics = train_sft(cfg, resume=args.resume, progress=not args.no_progress)
    if not _rank_zero():  # under torchrun rank 0 reports
        return 0
    if metrics.get("dropped"):
        print(f"dropped {metrics['dropped']} examples longer than data.max_length={cfg.data.max_length}")
    print(f"final loss: {metrics.get('loss', float('nan')):.4f}\ncheckpoint: {metrics['checkpoint']}\nplot: {metrics['plot']}")
    return 0


def _cmd_train_rm(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import load_config
    from r1kit.train.rm import train_rm
    from r1kit.train.rm_config import RMRunConfig

    cfg = load_config(RMRunConfig, args.config, extra)
    print(f"r1kit: reward-model run in {cfg.out_dir} ({cfg.steps} steps, model {cfg.model.name_or_path})")
    metrics = train_rm(cfg, resume=args.resume, progress=not args.no_progress)
    if "eval/accuracy" in metrics:
        print(f"held-out pairwise accuracy: {metrics['eval/accuracy']:.3f} ({metrics['eval/pairs']} pairs)")
    print(f"checkpoint: {metrics['checkpoint']}")
    return 0


def _cmd_train_onpolicy(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import load_config
    from r1kit.train.onpolicy import train_onpolicy
    from r1kit.train.onpolicy_config import OnPolicyRunConfig

    cfg = load_config(OnPolicyRunConfig, args.config, extra)
    print(f"r1kit: on-policy distillation in {cfg.out_dir} ({cfg.steps} steps, student {cfg.model.name_or_path}, "
          f"teacher {cfg.teacher.name_or_path})")
    metrics = train_onpolicy(cfg, resume=args.resume, progress=not args.no_progress)
    if "eval/pass@1" in metrics:
        print(f"held-out pass@1: {metrics['eval/pass@1']:.3f}")
    print(f"checkpoint: {metrics['checkpoint']}")
    return 0


def _cmd_pipeline(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.pipeline.runner import load_pipeline, run_pipeline

    cfg = load_pipeline(args.file, extra)
    results = run_pipeline(cfg, progress=not args.no_progress)
    _print_stages(results, cfg.out)
    return 0


def _cmd_distill(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import load_config
    from r1kit.pipeline.distill import DistillConfig, run_distill

    cfg = load_config(DistillConfig, args.config, extra)
    results = run_distill(cfg, progress=not args.no_progress)
    _print_stages(results, cfg.out)
    print(f"student: {results['student']['path']}")
    return 0


def _print_stages(results: dict, out: str) -> None:
    for name, r in results.items():
        print(f"  {name:<24} {r['status']:<8} {r['seconds']:8.1f}s  {r['path']}")
    print(f"stages: {out}/pipeline.json")


def _cmd_model_new(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.models import new_model

    if extra:
        raise R1kitError(f"unexpected arguments: {' '.join(extra)}")
    path = new_model(args.arch, args.size, args.out, seed=args.seed)
    print(f"wrote {args.arch}/{args.size} model to {path}")
    return 0


def _cmd_model_base(args: argparse.Namespace, extra: list[str]) -> int:
    import shutil
    from pathlib import Path

    from r1kit.config import from_dict, parse_overrides
    from r1kit.pipeline.base_model import BaseModelConfig, get_base_model

    cfg = from_dict(BaseModelConfig, parse_overrides(extra))
    path, reused = get_base_model(cfg, reuse=not args.fresh)
    out = Path(args.out)
    if out.exists():
        raise R1kitError(f"{out} already exists; choose another --out")
    shutil.copytree(path, out)
    print(f"{'copied cached' if reused else 'built'} demo base model -> {out}")
    return 0


def _cmd_eval(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import _merge, from_dict, parse_overrides, read_yaml
    from r1kit.eval.runner import EvalRunConfig, run_eval

    flags = {"model": args.model, "base_url": args.base_url, "out": args.out, "data": args.data,
             "data_dir": args.data_dir, "samples": args.samples, "limit": args.limit, "scorer": args.scorer,
             "benchmarks": args.benchmark.split(",") if args.benchmark else None}
    data = _merge(read_yaml(args.config) if args.config else {}, {k: v for k, v in flags.items() if v is not None})
    cfg = from_dict(EvalRunConfig, _merge(data, parse_overrides(extra)))
    summaries = run_eval(cfg, progress=not args.no_progress)
    for name, s in summaries.items():
        cons = s.get("cons@k")
        print(f"{name}: pass@1 {100 * s['pass@1']['mean']:.1f} ± {100 * s['pass@1']['stderr']:.1f}"
              + (f", cons@{s['samples_per_problem']['max']} {100 * cons['mean']:.1f}" if cons else "")
              + f" ({s['n_problems']} problems x {s['samples_per_problem']['max']} samples)"
              + (f"; {s['unscored']} left out: their gold answer cannot be checked" if s.get("unscored") else ""))
    print(f"table: {cfg.out}/table.md")
    return 0


def _cmd_generate(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.config import _merge, from_dict, parse_overrides, read_yaml
    from r1kit.pipeline.generate import GenerateConfig, run_generate

    flags = {"model": args.model, "base_url": args.base_url, "task": args.task, "data": args.data, "out": args.out,
             "samples": args.samples, "limit": args.limit}
    data = _merge(read_yaml(args.config) if args.config else {}, {k: v for k, v in flags.items() if v is not None})
    cfg = from_dict(GenerateConfig, _merge(data, parse_overrides(extra)))
    report = run_generate(cfg, progress=not args.no_progress)
    removed = ", ".join(f"{name} {n}" for name, n in report["removed"].items() if n)
    print(f"generate: {report['samples']} samples of {report['problems']} problems, {report['correct']} correct; "
          f"kept {report['kept']}" + (f" (removed: {removed})" if removed else ""))
    print(f"SFT data: {cfg.out}/filtered.jsonl ({report['rows']} rows; counts in {cfg.out}/report.json)")
    return 0


def _cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.serve.server import serve

    if extra:
        raise R1kitError(f"unexpected arguments: {' '.join(extra)}")
    if not 0 < args.port < 65536:
        raise R1kitError(f"--port must be in 1-65535, got {args.port}")
    try:
        serve(args.model, args.host, args.port, args.api_key, model_name=args.served_name, dtype=args.dtype,
              device=args.device, max_batch=args.max_batch, max_queue=args.max_queue, context=args.context,
              threads=args.threads)
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: uvicorn has already shut down cleanly
        pass
    return 0


def _cmd_sandbox_check(args: argparse.Namespace, extra: list[str]) -> int:
    from r1kit.sandbox import Sandbox, check_sandbox

    if extra:
        raise R1kitError(f"unexpected arguments: {' '.join(extra)}")
    check_sandbox(args.python)  # SandboxUnavailable (an R1kitError) says what failed, in one line
    with Sandbox(workers=1, python=args.python) as sb:
        result = sb.run_python("print(sum(range(10)))")
    if result.stdout.strip() != "45":
        raise R1kitError(f"sandbox ran but a trivial program failed: {result.status}, {result.stderr.strip()[:200]}")
    print(f"sandbox OK: {args.python} runs contained ({result.wall_s * 1000:.0f} ms for a trivial program)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r1kit", description="DeepSeek-R1 training system: GRPO, R1-Zero, evaluation.")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="R1-Zero on a laptop: tiny base model -> eval -> GRPO -> eval")
    demo.add_argument("--out", default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--fresh", action="store_true", help="rebuild the tiny base model even if cached")
    demo.set_defaults(fn=_cmd_demo)
    train = sub.add_parser("train", help="training stages").add_subparsers(dest="stage", required=True)
    grpo = train.add_parser("grpo", help="GRPO with rule-based rewards")
    grpo.add_argument("--config", required=True, help="recipe YAML, e.g. recipes/tiny_cpu.yaml")
    grpo.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    grpo.add_argument("--no-progress", action="store_true", help="no progress bar")
    grpo.set_defaults(fn=_cmd_train_grpo)
    sft = train.add_parser("sft", help="supervised fine-tuning on chat data (loss on assistant tokens)")
    sft.add_argument("--config", required=True, help="recipe YAML, e.g. recipes/sft_tiny.yaml")
    sft.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    sft.add_argument("--no-progress", action="store_true", help="no progress bar")
    sft.set_defaults(fn=_cmd_train_sft)
    rm = train.add_parser("rm", help="a Bradley-Terry reward model on preference pairs (chosen/rejected)")
    rm.add_argument("--config", required=True, help="recipe YAML, e.g. recipes/rm_tiny.yaml")
    rm.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    rm.add_argument("--no-progress", action="store_true", help="no progress bar")
    rm.set_defaults(fn=_cmd_train_rm)
    onp = train.add_parser("onpolicy", help="on-policy distillation: the student samples, the teacher scores each "
                                            "token (per-token reverse KL)")
    onp.add_argument("--config", required=True, help="recipe YAML, e.g. recipes/onpolicy_tiny.yaml")
    onp.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    onp.add_argument("--no-progress", action="store_true", help="no progress bar")
    onp.set_defaults(fn=_cmd_train_onpolicy)
    pipe = sub.add_parser("pipeline", help="run stages in order (the R1 recipe): each in its own folder, "
                                           "skipped when done with the same inputs, resumed when interrupted")
    pipe.add_argument("file", help="pipeline YAML, e.g. recipes/r1-tiny.yaml")
    pipe.add_argument("--no-progress", action="store_true", help="no progress bars")
    pipe.set_defaults(fn=_cmd_pipeline)
    dist = sub.add_parser("distill", help="distillation: teacher traces -> filter -> SFT of a student "
                                          "(or --method=onpolicy), resumable")
    dist.add_argument("--config", required=True, help="YAML with DistillConfig fields (src/r1kit/pipeline/distill.py)")
    dist.add_argument("--no-progress", action="store_true", help="no progress bars")
    dist.set_defaults(fn=_cmd_distill)
    model = sub.add_parser("model", help="models").add_subparsers(dest="action", required=True)
    new = model.add_parser("new", help="build a tiny random model with a locally trained tokenizer")
    new.add_argument("--arch", default="qwen2", help="qwen2, llama or deepseek_v3")
    new.add_argument("--size", default="tiny", help="tiny or small")
    new.add_argument("--out", required=True)
    new.add_argument("--seed", type=int, default=0)
    new.set_defaults(fn=_cmd_model_new)
    base = model.add_parser("base", help="the demo's tiny base model, pretrained on 5-digit addition")
    base.add_argument("--out", required=True)
    base.add_argument("--fresh", action="store_true", help="rebuild even if cached")
    base.set_defaults(fn=_cmd_model_base)
    ev = sub.add_parser("eval", help="the R1 evaluation protocol on benchmarks, local model or endpoint")
    ev.add_argument("--model", help="checkpoint dir or hub name; with --base-url the served model's name")
    ev.add_argument("--benchmark", help="comma-separated: aime24,aime25,amc23,math500,gsm8k,gpqa_diamond,"
                                        "humaneval,mbpp,arithmetic,countdown, or a .jsonl file with --scorer")
    ev.add_argument("--base-url", dest="base_url", help="OpenAI-compatible endpoint (key from $OPENAI_API_KEY)")
    ev.add_argument("--out", help="output directory; the same one again resumes")
    ev.add_argument("--data", help="data file or hub dataset for a single benchmark")
    ev.add_argument("--data-dir", dest="data_dir", help="folder of <benchmark>.jsonl files (default $R1KIT_DATA)")
    ev.add_argument("--samples", type=int, help="k samples per problem (default per benchmark)")
    ev.add_argument("--limit", type=int, help="only the first N problems")
    ev.add_argument("--scorer", help="math, choice or code, for a custom .jsonl benchmark")
    ev.add_argument("--config", help="YAML with EvalRunConfig fields (src/r1kit/eval/runner.py)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(fn=_cmd_eval)
    gen = sub.add_parser("generate", help="reasoning traces: n samples per problem, verified and filtered, for SFT")
    gen.add_argument("--model", help="checkpoint dir or hub name; with --base-url the served model's name")
    gen.add_argument("--base-url", dest="base_url", help="OpenAI-compatible teacher (key from $OPENAI_API_KEY)")
    gen.add_argument("--task", help="arithmetic, countdown, jsonl (default), choice or code")
    gen.add_argument("--data", help="problems file or hub dataset of a jsonl/choice/code task")
    gen.add_argument("--out", help="output directory; the same one again resumes")
    gen.add_argument("--samples", type=int, help="samples per problem (default 4)")
    gen.add_argument("--limit", type=int, help="first N problems of the split (default 100; 0 = all)")
    gen.add_argument("--config", help="YAML with GenerateConfig fields (src/r1kit/pipeline/generate.py)")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(fn=_cmd_generate)
    sv = sub.add_parser("serve", help="OpenAI-compatible reasoning API and chat page (continuous batching)")
    sv.add_argument("--model", required=True, help="checkpoint directory or hub name")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--api-key", dest="api_key", default=None, help="require this Bearer key on /v1 routes")
    sv.add_argument("--served-name", dest="served_name", default=None, help="model name clients send (default --model)")
    sv.add_argument("--dtype", default=None, help="float32 / bfloat16 (default: bfloat16 on CUDA, float32 on CPU)")
    sv.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    sv.add_argument("--max-batch", dest="max_batch", type=int, default=32, help="rows decoded together")
    sv.add_argument("--max-queue", dest="max_queue", type=int, default=64, help="waiting requests before 429")
    sv.add_argument("--context", type=int, default=None, help="most prompt + completion tokens per request")
    sv.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    sv.set_defaults(fn=_cmd_serve)
    sandbox = sub.add_parser("sandbox", help="the code sandbox").add_subparsers(dest="action", required=True)
    check = sandbox.add_parser("check", help="self-test bubblewrap containment on this machine")
    check.add_argument("--python", default="/usr/bin/python3", help="interpreter inside (must live under /usr)")
    check.set_defaults(fn=_cmd_sandbox_check)
    return p


MULTI_PROCESS = ("_cmd_train_grpo", "_cmd_train_sft", "_cmd_pipeline")
"""The commands torchrun may launch as several processes (r1kit.train.dist); the others run as one."""


def _rank_zero() -> bool:
    """Whether this process reports: always, except on ranks > 0 of a torchrun launch."""
    import os

    return os.environ.get("RANK", "0") == "0"


def _check_launch(args: argparse.Namespace) -> None:
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.fn.__name__ not in MULTI_PROCESS:
        raise R1kitError("this command runs as one process; launch it without torchrun (several processes: "
                         "r1kit train grpo, r1kit train sft, r1kit pipeline)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        _check_launch(args)
        code = args.fn(args, extra)
        if "r1kit.train.dist" in sys.modules:  # under torchrun: end the process group before exit
            sys.modules["r1kit.train.dist"].end_process_group()
        return code
    except R1kitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
