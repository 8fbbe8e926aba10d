"""Every shipped pipeline recipe is valid: each stage's keys and types check against its kind's config."""

from pathlib import Path

import pytest

from r1kit.config import load_config, read_yaml
from r1kit.pipeline.distill import DistillConfig, distill_stages
from r1kit.pipeline.runner import PipelineConfig, stage_config

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def check_stages(stages: dict, tmp_path) -> list[str]:
    outputs, kinds = {}, []
    for k, (name, spec) in enumerate(stages.items(), 1):
        kind, cfg, fp = stage_config(name, spec, tmp_path / f"{k:02d}-{name}", outputs)
        assert len(fp) == 64
        outputs[name] = {"path": f"/models/{name}", "hash": name}
        kinds.append(spec["kind"])
    return kinds


@pytest.mark.parametrize("recipe", ["r1-tiny.yaml", "r1-qwen2.5-1.5b.yaml"])
def test_pipeline_recipes_validate(recipe, tmp_path):
    data = read_yaml(RECIPES / recipe)
    PipelineConfig(**data)
    kinds = check_stages(data["stages"], tmp_path)
    assert kinds.count("grpo") >= 2 and kinds.count("sft") >= 3 and "generate" in kinds


def test_gpu_recipe_wires_the_reward_model_into_stage_4(tmp_path):
    stages = read_yaml(RECIPES / "r1-qwen2.5-1.5b.yaml")["stages"]
    outputs = {n: {"path": f"/models/{n}", "hash": n} for n in stages}
    _, cfg, _ = stage_config("all_scenarios_general", stages["all_scenarios_general"], tmp_path, outputs)
    assert cfg.reward_options["per_type"]["options"]["reward_model"]["path"] == "/models/rm"
    assert cfg.model.name_or_path == "/models/all_scenarios_rl"  # general prompts only after the reasoning steps
    assert cfg.rollout.temperature == 0.7 and stages["sft"]["model"]["name_or_path"] == "Qwen/Qwen2.5-1.5B"


@pytest.mark.parametrize("method", ["sft", "onpolicy"])
def test_distill_recipe_validates(method, tmp_path):
    cfg = load_config(DistillConfig, RECIPES / "distill-tiny.yaml", [f"--method={method}"])
    assert check_stages(distill_stages(cfg), tmp_path) == (["generate", "sft"] if method == "sft" else ["onpolicy"])
