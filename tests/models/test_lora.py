"""r1kit.models.lora: validation, adapters on/off, the merge W + (alpha/r) B A, adapter save/load."""

import pytest
import torch

from r1kit.config import load_config
from r1kit.errors import R1kitError
from r1kit.models import load_model
from r1kit.models.lora import (LoraConfig, adapters_disabled, apply_lora, load_adapter, merged_copy,
                               save_adapter)
from r1kit.train.config import GRPORunConfig

pytest.importorskip("peft")

IDS = torch.tensor([[5, 17, 42, 9, 77, 3, 120, 64]])  # (1, 8)


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits                                   # (1, 8, V)


def with_trained_adapter(model_dir, **lora):
    """A LoRA model whose B matrices are random (a fresh adapter's B = 0 changes nothing)."""
    pm = apply_lora(load_model(model_dir), {"r": 4, "alpha": 8, **lora})
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return pm


@pytest.mark.parametrize("lora, message", [
    ({"rank": 4}, "model.lora: unknown key 'rank' (valid: r, alpha, dropout, target_modules)"),
    ({"r": 0}, "model.lora.r must be an integer >= 1, got 0"),
    ({"r": 2.5}, "model.lora.r must be an integer >= 1"),
    ({"alpha": -1}, "model.lora.alpha must be a number > 0"),
    ({"dropout": 1.0}, "model.lora.dropout must be in [0, 1)"),
    ({"target_modules": "q_proj"}, "model.lora.target_modules must be a list of module names"),
])
def test_bad_lora_config_is_a_one_line_error(lora, message):
    with pytest.raises(R1kitError) as err:
        LoraConfig.from_dict(lora)
    assert str(err.value) == message or str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    with pytest.raises(R1kitError, match="model.lora"):  # also when the run config is loaded
        load_config(GRPORunConfig, None, ["--model.lora=" + str(lora).replace("'", "")])


def test_empty_lora_is_off_and_defaults_are_documented():
    assert load_config(GRPORunConfig, None, []).model.lora == {}
    cfg = LoraConfig.from_dict({"r": 4})
    assert (cfg.r, cfg.alpha, cfg.dropout, cfg.target_modules) == (4, 16.0, 0.0, [])


def test_fresh_adapter_changes_nothing_and_only_adapters_train(tiny_model_dir, one_thread):
    base = load_model(tiny_model_dir)
    before = logits(base)
    pm = apply_lora(base, {"r": 4})
    assert pm.get_base_model() is base                                        # weights shared, not copied
    trainable = [n for n, p in base.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    adapted = {n.split(".")[-4] for n in trainable}                           # q_proj.lora_A.default.weight
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj"}               # qwen2's default targets
    assert len(trainable) == 2 * 4 * base.config.num_hidden_layers
    assert torch.equal(logits(base), before)                                  # B = 0 at init


@pytest.mark.parametrize("bad", ["nope", "proj", "layers.0.self_attn.q"])  # a suffix of whole name parts
def test_a_target_that_matches_nothing_names_it(tiny_model_dir, bad):
    with pytest.raises(R1kitError) as err:
        apply_lora(load_model(tiny_model_dir), {"r": 4, "target_modules": ["q_proj", bad]})
    assert str(err.value) == f"model.lora.target_modules: {bad} matches no module of qwen2"
    apply_lora(load_model(tiny_model_dir), {"r": 4, "target_modules": ["layers.0.self_attn.q_proj"]})


def test_adapters_disabled_is_the_base_model(tiny_model_dir, one_thread):
    pm = with_trained_adapter(tiny_model_dir)
    policy, base = pm.get_base_model(), load_model(tiny_model_dir)
    adapted = logits(policy)
    assert not torch.allclose(adapted, logits(base), atol=1e-3)
    with adapters_disabled(pm):
        assert torch.equal(logits(policy), logits(base))                      # exactly W x
    assert torch.equal(logits(policy), adapted)                               # restored on exit


def test_merged_copy_is_w_plus_scaled_ba_and_matches_the_adapted_model(tiny_model_dir, one_thread):
    pm = with_trained_adapter(tiny_model_dir, alpha=6)
    adapted = logits(pm.get_base_model())
    merged = merged_copy(pm)
    assert type(merged).__name__ == "Qwen2ForCausalLM" and not any("lora" in n for n, _ in merged.named_parameters())
    q = pm.get_base_model().model.layers[0].self_attn.q_proj
    W, A, B = q.base_layer.weight, q.lora_A["default"].weight, q.lora_B["default"].weight  # (o, i), (r, i), (o, r)
    want = W + (6 / 4) * B @ A                                                 # alpha / r = 1.5
    torch.testing.assert_close(merged.model.layers[0].self_attn.q_proj.weight, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(logits(merged), adapted, rtol=0, atol=1e-5)
    assert torch.equal(logits(pm.get_base_model()), adapted)                  # the original is untouched


def test_adapter_round_trip_and_mismatch(tiny_model_dir, tmp_path, one_thread):
    pm = with_trained_adapter(tiny_model_dir)
    out = save_adapter(pm, tmp_path / "adapter")
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    fresh = apply_lora(load_model(tiny_model_dir), {"r": 4, "alpha": 8})
    load_adapter(fresh, out)
    assert torch.equal(logits(fresh.get_base_model()), logits(pm.get_base_model()))
    with pytest.raises(R1kitError, match="does not fit model.lora"):
        load_adapter(apply_lora(load_model(tiny_model_dir), {"r": 2}), out)
    with pytest.raises(R1kitError, match="does not fit model.lora"):
        load_adapter(apply_lora(load_model(tiny_model_dir), {"r": 4, "target_modules": ["q_proj"]}), out)
    with pytest.raises(R1kitError, match="no LoRA adapter in"):
        load_adapter(fresh, tmp_path)


def test_gpt2_default_target_is_c_attn(tokenizer, one_thread):
    from r1kit.models import build_model

    model = build_model("gpt2", "tiny", tokenizer, seed=0, n_embd=32, n_layer=1, n_head=2, n_inner=64)
    pm = apply_lora(model, {"r": 2})
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".attn.c_attn.lora_" in n for n in trainable)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.fill_(0.05)
    torch.testing.assert_close(logits(merged_copy(pm)), logits(model), rtol=0, atol=1e-5)
