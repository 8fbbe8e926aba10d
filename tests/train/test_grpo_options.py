"""DAPO dynamic sampling and the KL reference reset, on the pieces of the GRPO loop."""

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
