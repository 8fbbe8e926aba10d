"""load_model / load_tokenizer: local directories, dtypes, and one-line errors for bad input."""

import os

import pytest
import torch

from r1kit.errors import R1kitError
from r1kit.models import load_model, load_tokenizer, new_model
from r1kit.models.load import _looks_local


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    return new_model("qwen2", "tiny", tmp_path_factory.mktemp("models") / "base", tokenizer=tokenizer)


def test_load_model_and_tokenizer_from_a_directory(model_dir, tokenizer):
    model = load_model(str(model_dir))
    assert model.dtype == torch.float32 and model.device.type == "cpu" and not model.training
    assert load_model(model_dir, dtype="bfloat16").dtype == torch.bfloat16  # a Path works too

    tok = load_tokenizer(str(model_dir))
    assert tok.padding_side == "left" and tok.pad_token == "<|pad|>"
    batch = tok(["1 + 2", "12345 + 67890 = ?"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0] == tok.pad_token_id  # the short prompt is padded on the left
    assert tok.encode("<think>\n42</think>") == tokenizer.encode("<think>\n42</think>")


def test_pad_token_falls_back_to_eos(tmp_path, tokenizer):
    from r1kit.models import build_tokenizer

    no_pad = build_tokenizer()
    no_pad.pad_token = None
    no_pad.save_pretrained(tmp_path)
    tok = load_tokenizer(str(tmp_path))
    assert tok.pad_token == tok.eos_token == "<|endoftext|>"


MISSING = ["./no-such-model", "../no/such/model", "/nonexistent/r1kit/model", "~/no-such-r1kit-model"]


@pytest.mark.parametrize("path", MISSING)
def test_missing_local_path_is_one_line_error(path):
    for load in (load_model, load_tokenizer):
        with pytest.raises(R1kitError, match="model path not found") as info:
            load(path)
        assert "\n" not in str(info.value) and path in str(info.value)


def test_relative_path_under_an_existing_folder_is_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(R1kitError, match="model path not found: runs/base"):
        load_model("runs/base")
    (tmp_path / "runs" / "base").mkdir()  # exists, but is not a model directory
    with pytest.raises(R1kitError, match="without config.json"):
        load_model("runs/base")


def test_hub_names_are_not_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not _looks_local("Qwen/Qwen2.5-Math-1.5B")
    assert not _looks_local("gpt2")
    assert all(_looks_local(p) for p in ["./m", "../m", "/m", "~/m", "." + os.sep + "m"])


def test_unfetchable_hub_name_is_one_line_error(monkeypatch):
    import huggingface_hub.constants

    # Offline mode makes the hub fail at once instead of retrying for ~50 s without a network.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    name = "r1kit-tests/no-such-model-anywhere"
    for load, what in ((load_model, "model"), (load_tokenizer, "tokenizer")):
        with pytest.raises(R1kitError, match=f"could not load {what} '{name}'") as info:
            load(name)
        assert "\n" not in str(info.value)


def test_unknown_dtype_is_a_user_error(model_dir):
    with pytest.raises(R1kitError, match="float32, bfloat16, float16, auto"):
        load_model(str(model_dir), dtype="fp8")
