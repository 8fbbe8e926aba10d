"""Shared fixtures: a tiny Qwen2 model (r1kit's local tokenizer), the Math-Verify pool, the sandbox check."""

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random tiny qwen2 (hidden 64, 2 layers) saved in HF format; read-only for tests."""
    from r1kit.models import new_model

    out = tmp_path_factory.mktemp("tiny") / "qwen2"
    return new_model("qwen2", "tiny", out, seed=0, hidden_size=64, num_hidden_layers=2, intermediate_size=128)


@pytest.fixture(scope="session")
def verifier_pool():
    """One Math-Verify worker pool for the session, shut down at the end."""
    from r1kit.verify.math import get_pool, shutdown_pool

    pool = get_pool()
    yield pool
    shutdown_pool()


@pytest.fixture(scope="session")
def sandbox_ok():
    """Skip (with the self-test's one-line reason) where bubblewrap cannot run; the code reward needs it."""
    from r1kit.sandbox import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as e:
        pytest.skip(f"sandbox unavailable: {e}")


@pytest.fixture(scope="package")
def one_thread():
    """Tiny models run as fast on one torch thread, and one thread does not stall when other jobs share
    the CPU (two threads on a busy 2-core machine measured up to 100x slower per step)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load_benchmark(name: str):
    """benchmarks/<name>.py imported as a module (the benchmarks folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
