"""The task registry."""

import pytest

from r1kit.data import TASKS, ArithmeticTask, CountdownTask, get_task
from r1kit.errors import R1kitError


def test_get_task_builds_registered_tasks():
    assert isinstance(get_task("arithmetic", digits=3, op="*"), ArithmeticTask)
    assert isinstance(get_task("countdown", n_numbers=3), CountdownTask)
    assert set(TASKS) == {"arithmetic", "choice", "code", "countdown", "jsonl"}
    assert {name: cls.scorer for name, cls in TASKS.items()} == {
        "arithmetic": "arithmetic", "choice": "choice", "code": "code", "countdown": "countdown", "jsonl": "math"}


def test_unknown_name_lists_valid_ones():
    with pytest.raises(R1kitError, match="arithmetic, choice, code, countdown, jsonl"):
        get_task("gsm8k")


def test_unknown_argument_is_user_error():
    with pytest.raises(R1kitError, match="digitz"):
        get_task("arithmetic", digitz=3)
