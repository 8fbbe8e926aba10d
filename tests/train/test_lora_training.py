"""GRPO and SFT with model.lora on a tiny qwen2: only the adapters train, the KL reference is the base with
adapters off, the checkpoint's top folder is the merged model, resume == uninterrupted, bad input is one line."""

import json

import pytest
import torch

from r1kit.cli import main
from r1kit.config import load_config
from r1kit.errors import R1kitError
from r1kit.models import load_model
from r1kit.train import grpo as grpo_mod
from r1kit.train import sft_run
from r1kit.train.config import GRPORunConfig
from r1kit.train.onpolicy_config import OnPolicyRunConfig
from r1kit.train.sft_config import SFTRunConfig

pytest.importorskip("peft")

LORA = "{r: 4, alpha: 8, target_modules: [q_proj, v_proj]}"


def grpo_config(model_dir, out_dir, *extra) -> GRPORunConfig:
    return load_config(GRPORunConfig, None, [
        f"--model.name_or_path={model_dir}", "--model.device=cpu", f"--out_dir={out_dir}", "--steps=2",
        "--rollout.prompts_per_step=2", "--rollout.group_size=4", "--rollout.max_new_tokens=8",
        "--data.train_size=20", "--data.test_size=2", "--eval.samples=1", "--eval.max_new_tokens=4",
        "--grpo.beta=0.1", "--optim.lr=1e-2", "--rewards={parity: 1.0}", f"--model.lora={LORA}", *extra])


@pytest.fixture
def parity_reward(monkeypatch):
    """A random model never earns accuracy; this reward has spread, so updates happen."""
    from r1kit.rewards import registry
    monkeypatch.setitem(registry.REWARDS, "parity", registry.Reward(lambda c, ex, ctx: float(sum(map(ord, c)) % 3)))


def test_grpo_trains_only_the_adapters_against_the_base(tiny_model_dir, tmp_path, parity_reward, one_thread):
    from transformers import AutoModelForCausalLM

    from r1kit.models.lora import adapters_disabled
    from r1kit.rollout import RolloutEngine

    run = grpo_mod.setup_run(grpo_config(tiny_model_dir, tmp_path / "run"))
    assert run.ref_model is None and run.lora is not None                    # no second model in memory
    engine = RolloutEngine(run.model, run.tokenizer)
    lora0 = {n: p.detach().clone() for n, p in run.model.named_parameters() if "lora_" in n}
    for _ in range(2):
        metrics = grpo_mod.grpo_step(run, engine)
    assert metrics["kl"] > 0.0                                                # the policy left its base
    path = grpo_mod.save(run)
    # base weights bit-identical, adapters moved
    base = load_model(tiny_model_dir)
    base_sd, sd = base.state_dict(), run.model.state_dict()
    for name, w in base_sd.items():
        module, leaf = name.rsplit(".", 1)
        held = sd[name] if name in sd else sd[f"{module}.base_layer.{leaf}"]    # an adapted layer's W and bias
        assert torch.equal(held, w), name
    assert any(not torch.equal(sd[n], p) for n, p in lora0.items() if "lora_B" in n)
    # the reference: the policy with adapters off gives the base model's logp exactly
    rollout = engine.generate(["1 + 2 ="], grpo_mod_sampling(4))
    batch, _ = grpo_mod.make_batch(rollout, torch.arange(4.0), run.cfg, "cpu")
    with adapters_disabled(run.lora):
        ref_logp = grpo_mod.teacher_forced_logp(run.model, batch, run.cfg)
    assert torch.equal(ref_logp, grpo_mod.teacher_forced_logp(base, batch, run.cfg))
    assert not torch.allclose(grpo_mod.teacher_forced_logp(run.model, batch, run.cfg), ref_logp, atol=1e-4)
    # the checkpoint: merged weights on top (a plain transformers folder), the adapter in adapter/
    assert (path / "adapter" / "adapter_model.safetensors").is_file() and (path / "model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(path)
    ids = torch.cat([batch.prompt_ids, batch.completion_ids], 1)[:, -12:]    # (4, 12)
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, run.model(input_ids=ids).logits, rtol=0, atol=1e-5)


def grpo_mod_sampling(n):
    from r1kit.rollout import SamplingParams
    return SamplingParams(n=n, max_new_tokens=8, seed=1)


def test_grpo_resume_loads_the_adapter_from_the_checkpoint(tiny_model_dir, tmp_path, parity_reward, one_thread):
    cfg = grpo_config(tiny_model_dir, tmp_path / "run", "--save_every=1")
    grpo_mod.train_grpo(cfg, progress=False)
    cfg = grpo_config(tiny_model_dir, tmp_path / "run", "--save_every=1", "--steps=3")
    run = grpo_mod.setup_run(cfg, resume=True)
    assert run.step == 2 and run.ref_model is None
    from safetensors.torch import load_file
    saved = load_file(str(tmp_path / "run/checkpoints/step-000002/adapter/adapter_model.safetensors"))
    held = {n: p for n, p in run.lora.named_parameters() if "lora_" in n}
    assert len(saved) == len(held) == 2 * 2 * 2                              # A, B x q, v x 2 layers
    for name, w in saved.items():
        assert torch.equal(held[name.replace(".weight", ".default.weight")], w), name


def sft_config(model_dir, data, out, **extra) -> SFTRunConfig:
    overrides = {"model.name_or_path": str(model_dir), "model.device": "cpu", "data.path": str(data),
                 "data.batch_size": 5, "data.max_length": 48, "optim.micro_batch_size": 2, "optim.lr": 1e-2,
                 "optim.warmup_steps": 1, "steps": 4, "save_every": 2, "out_dir": str(out),
                 "model.lora": "{r: 4, alpha: 8, dropout: 0.1}", **extra}
    return load_config(SFTRunConfig, None, [f"--{k}={v}" for k, v in overrides.items()])


class Killed(Exception):
    pass


def test_sft_with_lora_resume_equals_uninterrupted(tiny_model_dir, tmp_path, monkeypatch, one_thread):
    """LoRA dropout draws random numbers: resuming restores the RNG, the base and the adapter exactly."""
    from safetensors.torch import load_file

    from tests.train.test_sft import chat_rows

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in chat_rows()))
    sft_run.train_sft(sft_config(tiny_model_dir, data, tmp_path / "full"), progress=False)
    real_step, calls = sft_run.sft_step, {"n": 0}

    def dies_on_third(run):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real_step(run)

    part = sft_config(tiny_model_dir, data, tmp_path / "part")
    monkeypatch.setattr(sft_run, "sft_step", dies_on_third)
    with pytest.raises(Killed):
        sft_run.train_sft(part, progress=False)
    monkeypatch.setattr(sft_run, "sft_step", real_step)
    sft_run.train_sft(part, resume=True, progress=False)
    for name in ("model.safetensors", "adapter/adapter_model.safetensors"):
        a, b = (load_file(str(tmp_path / run / "checkpoints/step-000004" / name)) for run in ("full", "part"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    base = load_model(tiny_model_dir).state_dict()
    merged = load_file(str(tmp_path / "full/checkpoints/step-000004/model.safetensors"))
    assert torch.equal(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])  # not adapted
    assert not torch.equal(merged["model.layers.0.self_attn.q_proj.weight"], base["model.layers.0.self_attn.q_proj.weight"])
    losses = [[json.loads(x)["loss"] for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("full", "part")]
    assert len(losses[1]) == 4 and losses[0] == losses[1]


def test_cli_bad_target_is_one_line_exit_2_nothing_written(tiny_model_dir, tmp_path, capsys):
    out, recipe = tmp_path / "run", tmp_path / "grpo.yaml"
    recipe.write_text(json.dumps({"model": {"name_or_path": str(tiny_model_dir), "device": "cpu"}, "out_dir": str(out)}))
    code = main(["train", "grpo", "--config", str(recipe), "--model.lora={r: 4, target_modules: [nope]}", "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == ["error: model.lora.target_modules: nope matches no module of qwen2"]
    assert not out.exists()


def test_unsupported_combinations_are_errors(tiny_model_dir, tmp_path, parity_reward):
    with pytest.raises(R1kitError, match="grpo.ref_reset_every is not supported with model.lora"):
        grpo_mod.setup_run(grpo_config(tiny_model_dir, tmp_path / "run", "--grpo.ref_reset_every=2"))
    assert not (tmp_path / "run").exists()
    with pytest.raises(R1kitError, match="onpolicy: model.lora is not supported"):
        load_config(OnPolicyRunConfig, None, ["--model.lora={r: 4}"])
