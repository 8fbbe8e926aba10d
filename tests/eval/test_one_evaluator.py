"""One evaluator: a checkpoint's held-out pass@1 through the GRPO loop equals `r1kit eval`'s, sample for sample."""

import json
from dataclasses import asdict

import pytest

from r1kit.eval.runner import EvalRunConfig, run_eval
from r1kit.train.config import DataConfig, EvalConfig, GRPORunConfig, ModelConfig, RolloutConfig

N_PROBLEMS, K, MAX_TOKENS, SEED = 6, 4, 16, 3


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny qwen2 fine-tuned 50 steps on the 6 held-out 2-digit additions (direct answers). At T = 0.6 it
    is right about half the time, so pass@1 is neither 0 nor 1 and any sample that differs would show."""
    import torch

    from r1kit.data.tasks import get_task
    from r1kit.data.templates import render_prompt
    from r1kit.models import load_model, load_tokenizer, new_model
    from r1kit.train.sft import SFTConfig, sft_train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = new_model("qwen2", "tiny", tmp_path_factory.mktemp("ckpt") / "m", seed=0, hidden_size=64,
                     num_hidden_layers=2, intermediate_size=128)
    model, tokenizer = load_model(str(path)), load_tokenizer(str(path))
    task = get_task("arithmetic", digits=2)
    pairs = [(render_prompt(ex.problem, "r1_zero"), task.solution(ex)) for ex in task.examples("test", N_PROBLEMS)]
    sft_train(model, tokenizer, pairs, SFTConfig(steps=50, batch_size=N_PROBLEMS, lr=3e-3, warmup_steps=0,
                                                 schedule="constant"))
    model.save_pretrained(path)
    torch.set_num_threads(threads)
    return path


def grpo_cfg(path, out) -> GRPORunConfig:
    return GRPORunConfig(
        model=ModelConfig(name_or_path=str(path), device="cpu"),
        data=DataConfig(task="arithmetic", task_args={"digits": 2}, template="r1_zero", train_size=20,
                        test_size=N_PROBLEMS),
        rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=MAX_TOKENS, stop=["</answer>"]),
        eval=EvalConfig(samples=K, temperature=0.6, top_p=0.95, max_new_tokens=MAX_TOKENS, every=1,
                        problems_per_batch=4),
        steps=1, seed=SEED, out_dir=str(out), save_every=0)


def eval_cfg(path, out) -> EvalRunConfig:
    """`r1kit eval` with the run's eval settings, flag for flag."""
    return EvalRunConfig(model=str(path), benchmarks=["arithmetic"], task_args={"digits": 2}, samples=K,
                         limit=N_PROBLEMS, template="r1_zero", temperature=0.6, top_p=0.95, max_new_tokens=MAX_TOKENS,
                         stop=["</answer>"], seed=SEED, problems_per_batch=4, out=str(out), reference=False)


def test_training_evaluation_equals_r1kit_eval(checkpoint, tmp_path, one_thread):
    from r1kit.rollout import RolloutEngine
    from r1kit.train.grpo import evaluate_run, setup_run, train_grpo

    run = setup_run(grpo_cfg(checkpoint, tmp_path / "run"))
    trained = evaluate_run(run, RolloutEngine(run.model, run.tokenizer))
    summary = run_eval(eval_cfg(checkpoint, tmp_path / "ev"), progress=False)["arithmetic"]

    assert 0.0 < trained.pass_at_1 < 1.0 and len(set(trained.per_problem)) > 1  # a check with teeth
    assert summary["pass@1"]["mean"] == pytest.approx(trained.pass_at_1, abs=1e-12)
    assert summary["n_problems"] == trained.n_problems == N_PROBLEMS
    on_disk = [json.loads(line) for line in (tmp_path / "ev" / "arithmetic" / "samples.jsonl").read_text().splitlines()]
    key = lambda r: (r["problem_id"], r["sample"])  # noqa: E731
    assert sorted(on_disk, key=key) == sorted((asdict(r) for r in trained.records), key=key)  # answers, texts, verdicts

    # the number the training loop itself logs for its starting checkpoint (metrics.jsonl, step 0)
    train_grpo(grpo_cfg(checkpoint, tmp_path / "run2"), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run2" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and rows[0]["eval/pass@1"] == pytest.approx(summary["pass@1"]["mean"], abs=1e-12)


def test_chunking_is_part_of_the_rule(checkpoint, tmp_path, one_thread):
    """Problems per batch fix the seeds: a different chunking samples differently (so both sides must agree)."""
    a = run_eval(eval_cfg(checkpoint, tmp_path / "a"), progress=False)["arithmetic"]
    cfg = eval_cfg(checkpoint, tmp_path / "b")
    cfg.problems_per_batch = 3
    b = run_eval(cfg, progress=False)["arithmetic"]
    def texts(out):
        return [json.loads(x)["completion"] for x in (out / "arithmetic" / "samples.jsonl").read_text().splitlines()]

    assert texts(tmp_path / "a") != texts(tmp_path / "b")
    assert a["n_problems"] == b["n_problems"] == N_PROBLEMS
