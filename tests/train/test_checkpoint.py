"""Checkpoint layout: a plain Hugging Face folder with one set of weights, trainer files in trainer/.

After a KL-reference reset the reference is saved too; it must not sit beside the policy, where
loaders that read every *.safetensors of a folder (vLLM) would mix the two (issue 9).
"""

import shutil

import pytest
import torch

from r1kit.config import load_config
from r1kit.train import grpo as grpo_mod
from r1kit.train.checkpoint import latest_checkpoint, load_ref_weights, load_trainer_state
from r1kit.train.config import GRPORunConfig


def config(model_dir, out_dir, steps: int) -> GRPORunConfig:
    return load_config(GRPORunConfig, None, [
        f"--model.name_or_path={model_dir}", "--model.device=cpu", f"--out_dir={out_dir}", f"--steps={steps}",
        "--rollout.prompts_per_step=2", "--rollout.group_size=4", "--rollout.max_new_tokens=8",
        "--data.train_size=20", "--data.test_size=2", "--eval.samples=1", "--eval.max_new_tokens=8",
        "--grpo.beta=0.1", "--grpo.ref_reset_every=1", "--save_every=1", "--optim.lr=1e-2",
        "--rewards={parity: 1.0}"])


@pytest.fixture(scope="module")
def reset_run(tiny_model_dir, tmp_path_factory):
    """Two GRPO steps with the reference reset after every step; a checkpoint after each."""
    from r1kit.rewards import registry

    mp = pytest.MonkeyPatch()
    mp.setitem(registry.REWARDS, "parity", registry.Reward(lambda c, ex, ctx: float(sum(map(ord, c)) % 3)))
    out = tmp_path_factory.mktemp("reset") / "run"
    grpo_mod.train_grpo(config(tiny_model_dir, out, steps=2), progress=False)
    yield out, mp
    mp.undo()


def test_checkpoint_after_a_reset_is_a_plain_hf_folder(reset_run, tiny_model_dir):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, _ = reset_run
    ckpt = latest_checkpoint(out)
    assert ckpt == out / "checkpoints" / "step-000002"
    assert [p.name for p in ckpt.glob("*.safetensors")] == ["model.safetensors"]  # one set of weights
    assert sorted(p.name for p in (ckpt / "trainer").iterdir()) == ["ref_model.safetensors", "trainer_state.pt"]
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    saved = load_file(str(ckpt / "model.safetensors"))
    for name, tensor in model.state_dict().items():
        if name in saved:
            assert torch.equal(tensor, saved[name]), name
    # the run's prompt template (r1_zero by default) is recorded as the chat template
    from r1kit.data.templates import recorded_template
    from r1kit.models import load_tokenizer

    assert recorded_template(load_tokenizer(ckpt).chat_template) == "r1_zero"
    assert recorded_template(load_tokenizer(tiny_model_dir).chat_template) is None


def test_resume_reads_the_reference_from_the_subfolder(reset_run, tiny_model_dir):
    from safetensors.torch import load_file

    out, _ = reset_run
    ckpt = latest_checkpoint(out)
    ref = load_file(str(ckpt / "trainer" / "ref_model.safetensors"))
    base = load_file(str(tiny_model_dir / "model.safetensors"))
    assert any(not torch.equal(ref[k], base[k]) for k in ref if k in base), "a reset reference is not the base"
    run = grpo_mod.setup_run(config(tiny_model_dir, out, steps=3), resume=True)
    assert run.step == 2
    state = run.ref_model.state_dict()
    for k, v in ref.items():
        assert torch.equal(state[k], v), k


def test_an_old_layout_checkpoint_still_resumes(reset_run, tiny_model_dir, tmp_path):
    """Checkpoints written before the trainer/ subfolder kept its files in the top folder."""
    out, _ = reset_run
    old_run = tmp_path / "old"
    shutil.copytree(out, old_run)
    ckpt = latest_checkpoint(old_run)
    for f in (ckpt / "trainer").iterdir():
        f.rename(ckpt / f.name)
    (ckpt / "trainer").rmdir()
    assert latest_checkpoint(old_run) == ckpt and load_trainer_state(ckpt)["step"] == 2
    from r1kit.models import load_model

    ref = load_model(tiny_model_dir)
    assert load_ref_weights(ckpt, ref)
    from safetensors.torch import load_file

    saved = load_file(str(ckpt / "ref_model.safetensors"))
    assert all(torch.equal(ref.state_dict()[k], v) for k, v in saved.items())
    metrics = grpo_mod.train_grpo(config(tiny_model_dir, old_run, steps=3), resume=True, progress=False)
    assert (old_run / "checkpoints" / "step-000003" / "trainer" / "trainer_state.pt").is_file()
    assert metrics["checkpoint"].endswith("step-000003")
