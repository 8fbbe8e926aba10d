"""The demo's pieces at reduced size: base model build + cache, before/after eval, summary.json."""

import json

from r1kit.pipeline.base_model import BaseModelConfig
from r1kit.pipeline.demo import DemoConfig, run_demo


def small_demo(out) -> DemoConfig:
    base = BaseModelConfig(overrides={"n_embd": 32, "n_layer": 1, "n_head": 2, "n_inner": 64},
                           learn_steps=4, pretrain_steps=3, batch_size=8, n_examples=64)
    return DemoConfig(out=str(out), base=base, steps=2, prompts_per_step=2, group_size=4, max_new_tokens=12,
                      n_problems=3, samples=2, eval_every=1)


def test_demo_end_to_end_small(tmp_path, monkeypatch):
    monkeypatch.setenv("R1KIT_CACHE", str(tmp_path / "cache"))
    summary = run_demo(small_demo(tmp_path / "run"))
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["before.pass@1"] == summary["before.pass@1"]
    for key in ("before.pass@1", "after.pass@1", "samples_per_problem", "n_problems", "wall_seconds",
                "before.mean_length", "after.mean_length"):
        assert key in on_disk, key
    assert on_disk["samples_per_problem"] == 2 and on_disk["n_problems"] == 3
    assert 0.0 <= on_disk["after.pass@1"] <= 1.0
    assert (tmp_path / "run" / "grpo" / "plot.png").is_file()
    rows = [json.loads(x) for x in (tmp_path / "run" / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2] and "eval/pass@1" in rows[0]  # held-out curve starts at 0
    assert not on_disk["base_model_reused"]
    again = run_demo(small_demo(tmp_path / "run2"))
    assert again["base_model_reused"] and again["base_model"] == summary["base_model"]


def test_base_model_answers_in_the_template_format(tmp_path, monkeypatch):
    """After a short pretraining the base model already writes the R1-Zero tags."""
    from r1kit.data.tasks import get_task
    from r1kit.data.templates import render_prompt
    from r1kit.models import load_model, load_tokenizer
    from r1kit.pipeline.base_model import build_base_model
    from r1kit.rollout import RolloutEngine, SamplingParams

    cfg = BaseModelConfig(learn_steps=60, pretrain_steps=0, batch_size=32, n_examples=500, digits=2)
    path = build_base_model(cfg, tmp_path / "base", log=lambda *_: None)
    engine = RolloutEngine(load_model(str(path)), load_tokenizer(str(path)))
    task = get_task("arithmetic", digits=2)
    prompts = [render_prompt(ex.problem, "r1_zero") for ex in task.examples("test", 4)]
    out = engine.generate(prompts, SamplingParams(max_new_tokens=40, temperature=0.6, top_p=0.95, seed=0))
    assert all("</think>" in t and "<answer>" in t for t in out.texts), out.texts
