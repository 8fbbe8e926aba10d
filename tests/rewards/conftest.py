"""Shared fixtures: one Math-Verify worker pool for the session; a skip where the sandbox can't run."""

import pytest

from r1kit.rewards.math import get_pool, shutdown_pool


@pytest.fixture(scope="session")
def verifier_pool():
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
