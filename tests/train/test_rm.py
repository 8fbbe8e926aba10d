"""`r1kit train rm` end to end on a tiny random qwen2: the Bradley–Terry loss falls and held-out pairwise
accuracy reaches 0.9 on a separable toy set; the checkpoint reloads as a sequence classifier with the same
scores; resume equals uninterrupted; bad input is one line and exit code 2."""

import json

import pytest
import torch

from r1kit import cli
from r1kit.errors import R1kitError
from r1kit.train import rm as rm_mod
from r1kit.train.config import ModelConfig, OptimConfig
from r1kit.train.rm_config import RMConfig, RMDataConfig, RMRunConfig

pytestmark = pytest.mark.usefixtures("one_thread")


class Killed(Exception):
    pass


def toy_config(model_dir, out, **kw) -> RMRunConfig:
    base = dict(model=ModelConfig(name_or_path=str(model_dir), device="cpu"),
                data=RMDataConfig(toy=400, test_fraction=0.2, max_length=128), rm=RMConfig(batch_size=16),
                optim=OptimConfig(lr=1e-3), steps=30, eval_every=10, out_dir=str(out))
    return RMRunConfig(**{**base, **kw})


def rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls_and_held_out_accuracy_reaches_0_9(tiny_model_dir, tmp_path):
    metrics = rm_mod.train_rm(toy_config(tiny_model_dir, tmp_path / "run"), progress=False)
    log = rows(tmp_path / "run")
    evals = [r for r in log if "eval/accuracy" in r]
    assert [r["step"] for r in evals] == [0, 10, 20, 30]
    assert evals[0]["eval/pairs"] == evals[-1]["eval/pairs"] > 50       # ~20% of 400 prompts held out
    assert evals[0]["eval/loss"] > 0.6               # random head: near log 2 (its accuracy is luck, 0.0-1.0 by seed)
    assert evals[-1]["eval/accuracy"] >= 0.9 and metrics["eval/accuracy"] >= 0.9
    assert evals[-1]["eval/loss"] < 0.5 * evals[0]["eval/loss"]
    train = [r["loss"] for r in log if "loss" in r]
    assert len(train) == 30 and sum(train[-5:]) / 5 < 0.5 * sum(train[:5]) / 5
    assert all(k in log[-1] for k in ("accuracy", "reward_margin", "grad_norm", "lr"))


def test_checkpoint_reloads_as_a_reward_model_with_the_same_scores(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from r1kit.rewards.reward_model import reward_model_from_lm, sequence_rewards

    cfg = toy_config(tiny_model_dir, tmp_path / "run", steps=3, eval_every=0)
    run = rm_mod.setup_run(cfg)
    for _ in range(3):
        rm_mod.rm_step(run)
    ckpt = rm_mod.save(run)
    texts = [c for c, _ in run.test[:4]] + [r for _, r in run.test[:4]]
    with torch.no_grad():
        before = sequence_rewards(run.model.eval(), run.tokenizer, texts)
        model, tokenizer = reward_model_from_lm(ckpt)
        after = sequence_rewards(model.eval(), tokenizer, texts)
    assert torch.allclose(before, after, atol=1e-5)
    plain = AutoModelForSequenceClassification.from_pretrained(ckpt)      # the documented format, as is
    assert plain.config.num_labels == 1 and plain.config.pad_token_id == tokenizer.pad_token_id


def test_resume_equals_uninterrupted(tiny_model_dir, tmp_path, monkeypatch):
    small = dict(steps=4, save_every=2, eval_every=2, data=RMDataConfig(toy=120, test_fraction=0.2, max_length=128),
                 rm=RMConfig(batch_size=4))
    rm_mod.train_rm(toy_config(tiny_model_dir, tmp_path / "full", **small), progress=False)
    real_step, calls = rm_mod.rm_step, {"n": 0}

    def dies_on_third(run):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real_step(run)

    part = toy_config(tiny_model_dir, tmp_path / "part", **small)
    monkeypatch.setattr(rm_mod, "rm_step", dies_on_third)
    with pytest.raises(Killed):
        rm_mod.train_rm(part, progress=False)
    monkeypatch.setattr(rm_mod, "rm_step", real_step)
    with pytest.raises(R1kitError, match="already holds a run"):
        rm_mod.train_rm(part, progress=False)
    rm_mod.train_rm(part, resume=True, progress=False)

    from safetensors.torch import load_file
    a = load_file(tmp_path / "full/checkpoints/step-000004/model.safetensors")
    b = load_file(tmp_path / "part/checkpoints/step-000004/model.safetensors")
    assert a.keys() == b.keys() and "score.weight" in a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert rows(tmp_path / "full") == rows(tmp_path / "part")


def test_unpaired_preference_file_is_one_line_and_exit_2(tiny_model_dir, tmp_path, capsys):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n"
                     + json.dumps({"prompt": "q2", "chosen": "a"}) + "\n")
    recipe = tmp_path / "rm.yaml"
    recipe.write_text(f"model: {{name_or_path: {tiny_model_dir}}}\ndata: {{path: {prefs}}}\n"
                      f"out_dir: {tmp_path / 'run'}\n")
    code = cli.main(["train", "rm", "--config", str(recipe), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"error: rm: {prefs} line 2: unpaired row: no rejected response "
                   "(each row needs chosen and rejected)\n")
    assert not (tmp_path / "run").exists()                                # nothing written before the input is valid


@pytest.mark.parametrize("override, says", [
    ("--rm.batch_size=0", "rm.batch_size must be >= 1"),
    ("--data.test_fraction=1.0", "test_fraction must be in"),
    ("--rm.bogus=1", "unknown config key 'rm.bogus'"),
])
def test_bad_config_is_an_error(tmp_path, capsys, override, says):
    recipe = tmp_path / "rm.yaml"
    recipe.write_text("data: {toy: 10}\n")
    assert cli.main(["train", "rm", "--config", str(recipe), override]) == 2
    assert says in capsys.readouterr().err


def test_micro_batches_accumulate_to_the_full_batch_step(tiny_model_dir, tmp_path):
    def one_step(micro, out):
        run = rm_mod.setup_run(toy_config(tiny_model_dir, out, steps=1, eval_every=0,
                                          optim=OptimConfig(lr=1e-3, micro_batch_size=micro)))
        metrics = rm_mod.rm_step(run)
        return metrics, dict(run.model.named_parameters())

    (m_full, w_full), (m_micro, w_micro) = one_step(0, tmp_path / "a"), one_step(5, tmp_path / "b")  # 16 = 5+5+5+1
    assert m_full["loss"] == pytest.approx(m_micro["loss"], abs=1e-6)
    assert m_full["grad_norm"] == pytest.approx(m_micro["grad_norm"], rel=1e-4)
    assert all(torch.allclose(w_full[k], w_micro[k], atol=1e-5) for k in w_full)  # Adam amplifies float noise


def test_cli_runs_the_tiny_recipe(tiny_model_dir, tmp_path, capsys):
    from pathlib import Path

    from r1kit.config import load_config

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "rm_tiny.yaml"
    cfg = load_config(RMRunConfig, recipe)                                # the shipped recipe is valid as is
    assert cfg.data.toy > 0 and not cfg.data.path
    code = cli.main(["train", "rm", "--config", str(recipe), f"--model.name_or_path={tiny_model_dir}",
                     f"--out_dir={tmp_path / 'run'}", "--steps=12", "--eval_every=0", "--data.toy=200",
                     "--data.max_length=128", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "held-out pairwise accuracy: 1.000" in out
    assert (tmp_path / "run/checkpoints/step-000012/config.json").is_file()


def test_lora_is_refused_for_reward_models():
    from r1kit.config import from_dict
    from r1kit.train.rm_config import RMRunConfig

    with pytest.raises(R1kitError, match="rm: model.lora is not supported"):
        from_dict(RMRunConfig, {"model": {"name_or_path": "x", "lora": {"r": 4}}})
