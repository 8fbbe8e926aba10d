"""Shared fixtures for the models tests: one default tokenizer per session (training it takes ~0.1 s,
importing transformers for it ~1 s)."""

import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from r1kit.models import build_tokenizer

    return build_tokenizer()
