"""One Math-Verify worker pool for the whole test session, shut down at the end."""

import pytest

from r1kit.verify.math import get_pool, shutdown_pool


@pytest.fixture(scope="session")
def verifier_pool():
    pool = get_pool()
    yield pool
    shutdown_pool()
