"""GRPO with rollout.backend=server against an in-process `r1kit serve` (the real batcher over the tiny qwen2):
the server reloads the policy after every step, the trainer logs the sampler/trainer logprob gap, TIS runs,
and a server that dies mid-run stops the run with one R1kitError line instead of sampling stale weights."""

import json

import pytest
import torch

from r1kit.errors import R1kitError
from r1kit.train import grpo as grpo_mod
from tests.rollout.test_remote import dead_url, served_tiny
from tests.train.test_grpo import small_config, weights


@pytest.fixture(autouse=True)
def parity_reward(monkeypatch):
    """A random model never earns accuracy; this reward has spread, so updates happen."""
    from r1kit.rewards import registry

    monkeypatch.setitem(registry.REWARDS, "parity", registry.Reward(lambda c, e, ctx: float(len(c) % 2)))


@pytest.fixture
def threads1():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def server_config(model_dir, out_dir, url, **extra):
    return small_config(model_dir, out_dir, **{"steps": 2, "save_every": 0, "rollout.backend": "server",
                                               "rollout.server_url": url, **extra})


def spy_steps(monkeypatch, batcher, after=None) -> list[int]:
    """Record the server's weight_version as each GRPO step starts; `after(step)` runs once a step is done."""
    versions, step = [], grpo_mod.grpo_step

    def wrapped(run, engine, ahead=None):
        versions.append(batcher.weight_version)
        out = step(run, engine, ahead)
        if after:
            after(run.step)
        return out

    monkeypatch.setattr(grpo_mod, "grpo_step", wrapped)
    return versions


def rows_of(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_grpo_against_a_server_syncs_every_step(tiny_model_dir, tmp_path, monkeypatch, threads1):
    with served_tiny(tiny_model_dir) as (url, batcher, _):
        versions = spy_steps(monkeypatch, batcher)
        metrics = grpo_mod.train_grpo(server_config(tiny_model_dir, tmp_path / "run", url), progress=False)
        assert versions == [0, 1] and batcher.weight_version == 2  # one reload per step, before the next rollout
        assert batcher.model_path == str((tmp_path / "run" / "sync").resolve())
        ckpt = tmp_path / "run" / "checkpoints" / "step-000002"
        assert metrics["checkpoint"] == str(ckpt) and (ckpt / "model.safetensors").is_file()
        served = batcher.model.state_dict()  # the server ends on exactly the weights the run saved
        assert all(torch.equal(served[k], v) for k, v in weights(ckpt).items())
        assert any(not torch.equal(a, weights(tiny_model_dir)[k]) for k, a in weights(ckpt).items())
    rows = rows_of(tmp_path / "run")
    for row in rows:  # fp32 server vs fp32 trainer: the same log_softmax up to rounding
        assert 0.0 <= row["logp_gap/mean"] <= row["logp_gap/max"] < 1e-3
        assert "tis/weight_mean" not in row
    assert rows[-1]["eval/pass@1"] is not None


def test_tis_on_runs_and_logs_weights(tiny_model_dir, tmp_path, threads1):
    with served_tiny(tiny_model_dir) as (url, batcher, _):
        cfg = server_config(tiny_model_dir, tmp_path / "run", url, **{"grpo.tis_cap": 2.0, "grpo.tis_level": "sequence"})
        grpo_mod.train_grpo(cfg, progress=False)
        assert batcher.weight_version == 2
    for row in rows_of(tmp_path / "run"):
        assert row["tis/weight_mean"] == pytest.approx(1.0, abs=1e-2) and row["tis/capped_frac"] == 0.0
        assert row["logp_gap/max"] < 1e-3


def test_server_dying_before_step_2_stops_the_run(tiny_model_dir, tmp_path, monkeypatch, threads1):
    with served_tiny(tiny_model_dir) as (url, batcher, server):
        # the server goes away right after step 1's update, before the weight sync and step 2's rollout
        versions = spy_steps(monkeypatch, batcher, after=lambda step: server.__exit__(None, None, None))
        with pytest.raises(R1kitError) as e:
            grpo_mod.train_grpo(server_config(tiny_model_dir, tmp_path / "run", url), progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "weight sync after step 1 failed" in msg and "unreachable" in msg and url in msg, msg
    assert versions == [0]  # step 2 never sampled
    assert not (tmp_path / "run" / "checkpoints" / "step-000002").exists()


def test_unreachable_server_fails_before_training(tiny_model_dir, tmp_path):
    url = dead_url()
    with pytest.raises(R1kitError, match="unreachable") as e:
        grpo_mod.train_grpo(server_config(tiny_model_dir, tmp_path / "run", url), progress=False)
    assert url in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("key,value,message", [
    ("rollout.backend", "remote", "rollout.backend must be engine or server"),
    ("rollout.server_kind", "tgi", "rollout.server_kind must be sglang or vllm"),
    ("rollout.sync_every", 0, "rollout.sync_every must be >= 1"),
    ("grpo.tis_cap", -1.0, "grpo.tis_cap must be >= 0"),
    ("grpo.tis_level", "batch", "grpo.tis_level must be token or sequence"),
    ("grpo.tis_mode", "clip", "grpo.tis_mode must be truncate or mask"),
])
def test_bad_config_is_one_line(tiny_model_dir, tmp_path, key, value, message):
    with pytest.raises(R1kitError, match=message):
        small_config(tiny_model_dir, tmp_path, **{key: value})
    with pytest.raises(R1kitError, match="needs rollout.server_url"):
        small_config(tiny_model_dir, tmp_path, **{"rollout.backend": "server"})


def test_one_step_off_policy_samples_ahead_exactly_one_step_stale(tiny_model_dir, tmp_path, monkeypatch, threads1):
    """rollout.max_staleness=1: step s+1's batch is sampled while step s trains, from the weights of step s
    (the server's version when the request goes out), and is complete before the next reload; a checkpoint
    records the stream position before the batch in flight."""
    from r1kit.rollout.remote import ServerEngine
    from r1kit.train.checkpoint import load_trainer_state

    with served_tiny(tiny_model_dir) as (url, batcher, _):
        seen, generate = [], ServerEngine.generate

        def spy(self, prompts, params):
            seen.append(batcher.weight_version)
            return generate(self, prompts, params)

        monkeypatch.setattr(ServerEngine, "generate", spy)
        cfg = server_config(tiny_model_dir, tmp_path / "run", url, **{"steps": 3, "save_every": 1,
                                                                      "rollout.max_staleness": 1})
        grpo_mod.train_grpo(cfg, progress=False)
        assert batcher.weight_version == 3
    assert seen == [0, 0, 1, 3]  # step 0 now; step 1 during step 0; step 2 during step 1; the final eval
    rows = rows_of(tmp_path / "run")
    assert [r["rollout/staleness"] for r in rows] == [0, 1, 1]
    assert all(r["logp_gap/max"] > 1e-3 for r in rows[1:])  # the sampler's weights really are older
    P = cfg.rollout.prompts_per_step
    positions = [load_trainer_state(tmp_path / "run" / "checkpoints" / f"step-{s:06d}")["data_position"]
                 for s in (2, 3)]
    assert positions == [2 * P, 3 * P]  # not counting the batch in flight at step 2


def test_max_staleness_needs_a_server_synced_every_step(tiny_model_dir, tmp_path):
    with pytest.raises(R1kitError, match="rollout.max_staleness=1 needs rollout.backend=server"):
        small_config(tiny_model_dir, tmp_path, **{"rollout.max_staleness": 1})
    with pytest.raises(R1kitError, match="rollout.max_staleness must be 0 or 1"):
        small_config(tiny_model_dir, tmp_path, **{"rollout.max_staleness": 2})
