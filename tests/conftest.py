"""Shared fixtures: a tiny Qwen2 model with r1kit's local tokenizer, built once per session."""

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random tiny qwen2 (hidden 64, 2 layers) saved in HF format; read-only for tests."""
    from r1kit.models import new_model

    out = tmp_path_factory.mktemp("tiny") / "qwen2"
    return new_model("qwen2", "tiny", out, seed=0, hidden_size=64, num_hidden_layers=2, intermediate_size=128)
