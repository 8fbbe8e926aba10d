"""Typed config: YAML + overrides, unknown keys and wrong types are one-line errors."""

import pytest

from r1kit.config import load_config, parse_overrides, save_config
from r1kit.errors import R1kitError
from r1kit.train.config import GRPORunConfig


def test_yaml_then_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("grpo: {beta: 0.04, aggregation: seq_mean}\noptim: {lr: 1e-4}\nrewards: {accuracy: 1, format: 0.5}\n")
    cfg = load_config(GRPORunConfig, recipe, ["--grpo.beta=0.0", "--rollout.stop=[a, b]", "--steps=7"])
    assert cfg.grpo.beta == 0.0 and cfg.grpo.aggregation == "seq_mean"
    assert cfg.optim.lr == 1e-4  # YAML 1.1 reads 1e-4 as a string; a float field accepts it
    assert cfg.rollout.stop == ["a", "b"] and cfg.steps == 7
    assert cfg.rewards == {"accuracy": 1.0, "format": 0.5}


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(GRPORunConfig, None, ["--grpo.clip_high=0.28", "--data.task_args={digits: 3}"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(GRPORunConfig, tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("args, message", [
    (["--grpo.betta=1"], "unknown config key 'grpo.betta'"),
    (["--nosuch=1"], "unknown config key 'nosuch'"),
    (["--grpo.beta=abc"], "'grpo.beta' must be float"),
    (["--steps=1.5"], "'steps' must be int"),
    (["--steps=true"], "'steps' must be int"),
    (["--rollout.stop=5"], "must be a list"),
    (["--rollout.group_size=1"], "group_size must be >= 2"),
    (["--grpo.aggregation=sum"], "grpo.aggregation must be"),
    (["grpo.beta=1"], "expected --section.key=value"),
])
def test_bad_config_is_a_one_line_error(args, message):
    with pytest.raises(R1kitError, match=message) as err:
        load_config(GRPORunConfig, None, args)
    assert "\n" not in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(R1kitError, match="config file not found"):
        load_config(GRPORunConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo: [unclosed\n")
    with pytest.raises(R1kitError, match="not valid YAML"):
        load_config(GRPORunConfig, bad)


def test_parse_overrides_nests():
    assert parse_overrides(["--a.b.c=1", "--a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_a_str_key_takes_the_text_as_typed():
    """YAML reads "{problem}" as a mapping and "[x]" as a list; a key typed str wants the text itself."""
    from r1kit.eval.runner import EvalRunConfig

    cfg = load_config(EvalRunConfig, None, ["--model=m", "--prompt={problem}", "--stop=[</answer>]"])
    assert cfg.prompt == "{problem}" and cfg.stop == ["</answer>"]
    cfg = load_config(EvalRunConfig, None, ["--model=m", "--prompt=[{problem}]"])
    assert cfg.prompt == "[{problem}]"
    grpo = load_config(GRPORunConfig, None, ["--data.task_args={digits: 3}", "--data.template={prompt} ="])
    assert grpo.data.task_args == {"digits": 3} and grpo.data.template == "{prompt} ="
    assert type(grpo.data.task_args) is dict  # a plain dict: the saved config must dump as YAML
