"""GRPO options on the pieces of the loop: DAPO dynamic sampling, the KL reference reset, the GSPO / CISPO losses
and RLOO advantages (grpo.loss, grpo.advantage)."""

import math
from types import SimpleNamespace

import pytest
import torch

from r1kit.config import load_config
from r1kit.train import grpo as grpo_mod
from r1kit.train.config import GRPORunConfig


def fake_rollout(B: int, Lp: int = 3, Lc: int = 4) -> SimpleNamespace:
    return SimpleNamespace(prompt_ids=torch.arange(B * Lp).view(B, Lp), prompt_mask=torch.ones(B, Lp),
                           completion_ids=torch.arange(B * Lc).view(B, Lc), completion_mask=torch.ones(B, Lc),
                           logp=torch.zeros(B, Lc))


@pytest.mark.parametrize("dynamic", [False, True])
def test_dynamic_sampling_drops_zero_spread_groups(dynamic):
    cfg = load_config(GRPORunConfig, None, ["--rollout.group_size=2", f"--grpo.dynamic_sampling={dynamic}"])
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])            # groups: flat, spread, flat
    batch, flat = grpo_mod.make_batch(fake_rollout(6), rewards, cfg, "cpu")
    assert flat.tolist() == [True, False, True]
    if dynamic:
        assert batch.completion_ids.shape[0] == 2
        assert torch.equal(batch.prompt_ids, fake_rollout(6).prompt_ids[2:4])
    else:
        assert batch.completion_ids.shape[0] == 6
    all_flat, _ = grpo_mod.make_batch(fake_rollout(4), torch.ones(4), cfg, "cpu")
    assert (all_flat is None) == dynamic


def test_reference_reset_copies_the_policy(tiny_model_dir, tmp_path, monkeypatch):
    from r1kit.rewards import registry
    from r1kit.rollout import RolloutEngine

    monkeypatch.setitem(registry.REWARDS, "parity", registry.Reward(lambda c, ex, ctx: float(sum(map(ord, c)) % 3)))
    cfg = load_config(GRPORunConfig, None, [
        f"--model.name_or_path={tiny_model_dir}", "--model.device=cpu", f"--out_dir={tmp_path / 'run'}",
        "--steps=3", "--rollout.prompts_per_step=2", "--rollout.group_size=4", "--rollout.max_new_tokens=8",
        "--data.train_size=20", "--data.test_size=2", "--grpo.beta=0.1", "--grpo.ref_reset_every=2",
        "--optim.lr=1e-2", "--rewards={parity: 1.0}"])
    run = grpo_mod.setup_run(cfg)
    engine = RolloutEngine(run.model, run.tokenizer)
    same = lambda: all(torch.equal(a, b) for a, b in zip(run.model.state_dict().values(),
                                                          run.ref_model.state_dict().values()))
    assert same()
    metrics = grpo_mod.grpo_step(run, engine)
    assert metrics["zero_spread_frac"] < 1.0
    assert not same() and metrics["kl"] >= 0.0        # step 1: the policy moved away from the reference
    grpo_mod.grpo_step(run, engine)
    assert same()                                      # step 2: reset (every 2 steps)


def test_prompt_stream_cycles_epochs_and_resumes():
    stream = grpo_mod.PromptStream(list(range(5)), seed=3)
    first = stream.take(12)
    assert sorted(first[:5]) == list(range(5)) and sorted(first[5:10]) == list(range(5))
    assert first[:5] != first[5:10]  # reshuffled each epoch
    resumed = grpo_mod.PromptStream(list(range(5)), seed=3, position=7)
    assert resumed.take(5) == first[7:12]


@pytest.mark.parametrize("template, opened", [("chat", True), ("r1_zero", False)])
def test_rewards_know_whether_the_prompt_opened_the_reasoning(tiny_model_dir, tmp_path, monkeypatch, template, opened):
    """Under the chat form the prompt ends in "<think>\\n": a completion with no </think> has no final answer,
    so the reward must be told (RewardContext.think_open), or it would score a number from unfinished reasoning."""
    from r1kit.rewards import registry
    from r1kit.rollout import RolloutEngine

    seen = []
    monkeypatch.setitem(registry.REWARDS, "spy", registry.Reward(lambda c, ex, ctx: seen.append(ctx.think_open) or 0.0))
    cfg = load_config(GRPORunConfig, None, [
        f"--model.name_or_path={tiny_model_dir}", "--model.device=cpu", f"--out_dir={tmp_path / 'run'}",
        "--steps=1", "--rollout.prompts_per_step=2", "--rollout.group_size=2", "--rollout.max_new_tokens=4",
        "--data.train_size=4", "--data.test_size=2", f"--data.template={template}", "--rewards={spy: 1.0}"])
    run = grpo_mod.setup_run(cfg)
    grpo_mod.grpo_step(run, RolloutEngine(run.model, run.tokenizer))
    assert seen == [opened] * 4


@pytest.mark.parametrize("flags", [["--grpo.loss=gspo", "--grpo.clip_low=3e-4", "--grpo.clip_high=4e-4"],
                                   ["--grpo.loss=cispo", "--grpo.advantage=rloo"]])
def test_loss_variants_train_end_to_end(tiny_model_dir, tmp_path, monkeypatch, flags, one_thread):
    """Two GRPO steps (mu = 2, so the second update is off-policy) through the named loss and advantage."""
    from r1kit import algo
    from r1kit.rewards import registry
    from r1kit.rollout import RolloutEngine

    name = flags[0].split("=")[1]
    calls, real = [], algo.LOSSES[name]
    monkeypatch.setitem(algo.LOSSES, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setitem(registry.REWARDS, "parity", registry.Reward(lambda c, ex, ctx: float(sum(map(ord, c)) % 3)))
    cfg = load_config(GRPORunConfig, None, [
        f"--model.name_or_path={tiny_model_dir}", "--model.device=cpu", f"--out_dir={tmp_path / 'run'}",
        "--steps=2", "--rollout.prompts_per_step=2", "--rollout.group_size=4", "--rollout.max_new_tokens=8",
        "--data.train_size=20", "--data.test_size=2", "--grpo.updates_per_batch=2", "--optim.lr=1e-2",
        "--rewards={parity: 1.0}", *flags])
    run = grpo_mod.setup_run(cfg)
    engine = RolloutEngine(run.model, run.tokenizer)
    before = [p.detach().clone() for p in run.model.parameters()]
    for _ in range(2):
        metrics = grpo_mod.grpo_step(run, engine)
        assert metrics["skipped_update"] == 0.0 and math.isfinite(metrics["loss"])
        assert math.isfinite(metrics["ratio_mean"]) and metrics["ratio_mean"] != 1.0   # the 2nd update moved off 1
    assert len(calls) == 4                                                           # 2 steps x mu = 2
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))


@pytest.mark.parametrize("loss", ["gspo", "cispo"])
def test_loss_variant_micro_batches_accumulate_to_the_full_batch(tiny_model_dir, loss, one_thread):
    """GSPO is a mean over sequences whatever `aggregation` says: with token_mean set, micro-batches must
    still be weighed by sequences (CISPO follows aggregation: by tokens) to give the full-batch gradient."""
    from r1kit.models import load_model

    torch.manual_seed(1)
    prompt, completion = torch.randint(10, 500, (4, 5)), torch.randint(10, 500, (4, 6))
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5]).float()
    old = -6.9 + 0.2 * torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    grads = []
    for micro in (0, 1):
        model = load_model(str(tiny_model_dir))
        cfg = load_config(GRPORunConfig, None, [f"--grpo.loss={loss}", "--grpo.aggregation=token_mean",
                                                f"--optim.micro_batch_size={micro}"])
        batch = grpo_mod.Batch(prompt, torch.ones(4, 5), completion, mask, old, torch.tensor([1.0, -0.5, 0.3, -2.0]), None)
        grpo_mod.policy_update(model, batch, cfg, torch.optim.SGD(model.parameters(), lr=0.0))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert (grads[1] - grads[0]).norm() / grads[0].norm() < 1e-5


@pytest.mark.parametrize("flag, message", [("--grpo.loss=ppo", "grpo.loss must be one of grpo, gspo, cispo"),
                                           ("--grpo.advantage=gae", "grpo.advantage must be one of grpo, dr_grpo, rloo")])
def test_unknown_loss_or_advantage_is_a_one_line_error(flag, message):
    from r1kit.errors import R1kitError

    with pytest.raises(R1kitError, match=message):
        load_config(GRPORunConfig, None, [flag])
