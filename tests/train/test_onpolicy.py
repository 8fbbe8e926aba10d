"""End-to-end on-policy distillation on tiny random models: the reverse KL to the teacher goes down, resume
equals uninterrupted, and a teacher with another tokenizer or a missing path is refused before anything is
written."""

import json
import shutil

import pytest
import torch

from r1kit.config import load_config
from r1kit.errors import R1kitError
from r1kit.train import onpolicy as onpolicy_mod
from r1kit.train.onpolicy_config import OnPolicyRunConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """A second random qwen2 of the student's sizes and tokenizer. Its init is wider (0.05, the student's is
    0.02): two models at 0.02 are both near uniform over the vocab, KL ~0.03 nats, too small a gap to close."""
    from r1kit.models import new_model

    out = tmp_path_factory.mktemp("teacher") / "qwen2"
    return new_model("qwen2", "tiny", out, seed=1, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                     initializer_range=0.05)


def small_config(student, teacher, out_dir, **extra) -> OnPolicyRunConfig:
    overrides = {
        "model.name_or_path": str(student), "model.device": "cpu", "teacher.name_or_path": str(teacher),
        "teacher.device": "cpu", "out_dir": str(out_dir), "steps": 4, "rollout.prompts_per_step": 2,
        "rollout.group_size": 1, "rollout.max_new_tokens": 12, "data.test_size": 2, "data.train_size": 50,
        "eval.samples": 1, "eval.max_new_tokens": 8, "save_every": 2, "optim.lr": 1e-3,
        "optim.schedule": "cosine", "optim.warmup_steps": 1, **extra,
    }
    return load_config(OnPolicyRunConfig, None, [f"--{k}={v}" for k, v in overrides.items()])


def weights(path):
    from safetensors.torch import load_file
    return load_file(str(path / "model.safetensors"))


@torch.no_grad()
def exact_reverse_kl(student, teacher, tokenizer, prompts) -> float:
    """sum_v pi(v|s) (log pi(v|s) - log pi_T(v|s)), exact over the vocab, averaged over the completion
    positions s of the student's own seeded samples of `prompts` (no sampling noise in the KL itself)."""
    from r1kit.rollout import RolloutEngine, SamplingParams

    r = RolloutEngine(student, tokenizer).generate(prompts, SamplingParams(max_new_tokens=16, n=4, seed=123))
    ids = torch.cat([r.prompt_ids, r.completion_ids], 1)                           # (B, Lp+Lc)
    mask = torch.cat([r.prompt_mask, r.completion_mask], 1).long()
    pos = (mask.cumsum(1) - 1).clamp(min=0)                                        # left padding
    Lp = r.prompt_ids.shape[1]
    logp = lambda m: m(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, Lp - 1:-1].log_softmax(-1)
    s, t = logp(student), logp(teacher)                                            # (B, Lc, V)
    kl = (s.exp() * (s - t)).sum(-1)                                               # (B, Lc)
    m = r.completion_mask.float()
    return float((kl * m).sum() / m.sum())


def test_reverse_kl_to_the_teacher_goes_down(tiny_model_dir, teacher_dir, tmp_path):
    from r1kit.data.tasks import get_task
    from r1kit.data.templates import render_prompt
    from r1kit.models import load_model, load_tokenizer

    cfg = small_config(tiny_model_dir, teacher_dir, tmp_path / "run", **{
        "steps": 20, "rollout.prompts_per_step": 8, "rollout.group_size": 8, "rollout.max_new_tokens": 16,
        "rollout.stop": "[]", "optim.schedule": "constant", "optim.warmup_steps": 0, "save_every": 0,
        "optim.micro_batch_size": 24})
    metrics = onpolicy_mod.train_onpolicy(cfg, progress=False)
    tokenizer, teacher = load_tokenizer(tiny_model_dir), load_model(teacher_dir)
    prompts = [render_prompt(ex.problem, "r1_zero") for ex in get_task("arithmetic").examples("test", 4)]
    before = exact_reverse_kl(load_model(tiny_model_dir), teacher, tokenizer, prompts)
    after = exact_reverse_kl(load_model(metrics["checkpoint"]), teacher, tokenizer, prompts)
    assert after < 0.75 * before, (before, after)            # measured: 0.095 -> 0.048

    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    for key in ("reverse_kl", "response_length/mean", "truncated_frac", "lr", "step_time", "entropy", "grad_norm"):
        assert key in rows[-1], key
    assert rows[0]["logp_gap/max"] < 1e-4                    # the loss's logp is the sampler's (micro-batches of 24)
    assert all(r["ratio_mean"] == pytest.approx(1.0, abs=1e-5) for r in rows)   # one update per batch: on-policy
    assert rows[-1]["eval/pass@1"] is not None
    assert (tmp_path / "run" / "plot.png").is_file() and (tmp_path / "run" / "config.yaml").is_file()


class Killed(Exception):
    pass


def test_resume_equals_uninterrupted(tiny_model_dir, teacher_dir, tmp_path, monkeypatch):
    full = small_config(tiny_model_dir, teacher_dir, tmp_path / "full")
    onpolicy_mod.train_onpolicy(full, progress=False)

    real_step, calls = onpolicy_mod.onpolicy_step, {"n": 0}

    def dies_on_third(run, engine):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real_step(run, engine)

    part = small_config(tiny_model_dir, teacher_dir, tmp_path / "part")
    monkeypatch.setattr(onpolicy_mod, "onpolicy_step", dies_on_third)
    with pytest.raises(Killed):
        onpolicy_mod.train_onpolicy(part, progress=False)
    monkeypatch.setattr(onpolicy_mod, "onpolicy_step", real_step)
    assert (tmp_path / "part" / "checkpoints" / "latest").read_text() == "step-000002"
    with pytest.raises(R1kitError, match="onpolicy: .* already holds a run"):
        onpolicy_mod.train_onpolicy(part, progress=False)
    onpolicy_mod.train_onpolicy(part, resume=True, progress=False)

    a, b = weights(tmp_path / "full/checkpoints/step-000004"), weights(tmp_path / "part/checkpoints/step-000004")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    moved = [not torch.equal(a[k], v) for k, v in weights(tiny_model_dir).items()]
    assert any(moved), "training did not change the weights"
    rows = [json.loads(x) for x in (tmp_path / "part/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_teacher_with_another_tokenizer_is_refused(tiny_model_dir, teacher_dir, tmp_path):
    from r1kit.models import load_tokenizer

    other = tmp_path / "other-teacher"
    shutil.copytree(teacher_dir, other)
    tok = load_tokenizer(other)
    tok.add_tokens(["<extra_token>"])
    tok.save_pretrained(other)
    cfg = small_config(tiny_model_dir, other, tmp_path / "run")
    with pytest.raises(R1kitError, match=f"onpolicy: teacher {other} and student {tiny_model_dir} tokenizers differ"):
        onpolicy_mod.train_onpolicy(cfg, progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("role", ["model", "teacher"])
def test_missing_model_path_names_onpolicy_and_the_path(tiny_model_dir, teacher_dir, tmp_path, role):
    missing = tmp_path / "no-such-model"
    paths = {"model": (missing, teacher_dir), "teacher": (tiny_model_dir, missing)}[role]
    cfg = small_config(*paths, tmp_path / "run")
    with pytest.raises(R1kitError, match=f"onpolicy: {role}: model path not found: {missing}"):
        onpolicy_mod.train_onpolicy(cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_group_size_zero_is_refused(tiny_model_dir, teacher_dir, tmp_path):
    with pytest.raises(R1kitError, match="onpolicy: rollout.group_size must be >= 1"):
        small_config(tiny_model_dir, teacher_dir, tmp_path / "run", **{"rollout.group_size": 0})


def test_micro_batches_accumulate_to_the_full_batch_gradient(tiny_model_dir):
    """Rows of unequal completion length: each micro-batch's token mean weighted by its token share gives the
    full batch's gradient and reverse_kl, whatever the micro-batch size."""
    from r1kit.models import load_model
    from r1kit.train.grpo import Batch

    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(10, 500, (4, 7), generator=g)                              # (4, 7)
    completion = torch.randint(10, 500, (4, 5), generator=g)                          # (4, 5)
    mask = torch.tensor([[1] * 5, [1] * 2 + [0] * 3, [1] * 4 + [0], [1] + [0] * 4]).float()
    old = -6.9 + 0.1 * torch.randn(4, 5, generator=g)
    teacher = -6.9 + 1.0 * torch.randn(4, 5, generator=g)
    cfg = OnPolicyRunConfig()
    cfg.rollout.temperature = 1.0
    grads, kls = [], []
    for micro in (0, 1, 3):
        model = load_model(str(tiny_model_dir))
        cfg.optim.micro_batch_size = micro
        batch = Batch(prompt, torch.ones(4, 7), completion, mask, old, None, None)
        stats = onpolicy_mod.distill_update(model, batch, teacher, cfg, torch.optim.SGD(model.parameters(), lr=0.0))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        kls.append(stats["reverse_kl"])
    expected_kl = float(((old - teacher) * mask).sum() / mask.sum())
    for grad, kl in zip(grads, kls):
        assert (grad - grads[0]).norm() / grads[0].norm() < 1e-5
        assert kl == pytest.approx(expected_kl, rel=1e-5)
