"""The code reward: program extraction, assert-style and stdin/stdout tests, scoring modes, hacks."""

import time

import pytest

from r1kit.data.base import Example
from r1kit.rewards.code import code_reward, code_rewards, extract_code

ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(2, 2) == 4\nassert add(0, 0) == 0\n"
ADD = Example("add", "Write add(a, b).", "", meta={"tests": ADD_TESTS})
ECHO = Example("echo", "Double each number.", "", meta={"tests": [
    {"input": "1\n", "output": "2\n"}, {"input": "5\n", "output": "10"}, {"input": "0\n", "output": "0\n"}]})


def fenced(code: str) -> str:
    return f"<think>easy</think>\nHere it is:\n```python\n{code}\n```\nDone."


@pytest.mark.parametrize("text,expected", [
    ("```python\nx = 1\n```", "x = 1"),
    ("```\nx = 1\n```", "x = 1"),
    ("```py\na\n```\ntext\n```python\nb\n```", "b"),  # the last complete block
    ("```python\na\n```\n```python\nb = (", "a"),  # a truncated last block is not a program
    ("<think>```python\nwrong\n```</think>```python\nright\n```", "right"),
    ("<think>```python\nwrong\n```</think> no code", "no code"),  # no fence after the reasoning: raw text
    ("```python\n```", None),
    ("x = 1", "x = 1"),
    ("", None),
    (None, None),
])
def test_extract_code(text, expected):
    assert extract_code(text) == expected


def test_extract_without_raw_fallback():
    assert extract_code("x = 1", fallback_raw=False) is None


def test_assert_tests_fraction_and_all(sandbox_ok):
    right = fenced("def add(a, b):\n    return a + b")
    half = fenced("def add(a, b):\n    return a + b if a >= 0 and b > 0 else 1")  # passes asserts 1 and 3
    raises = fenced("def add(a, b):\n    raise ValueError")
    scores = code_rewards([right, half, raises, "no program at all"], [ADD] * 4)
    assert scores == [1.0, 0.5, 0.0, 0.0]
    assert code_rewards([right, half], [ADD] * 2, mode="all") == [1.0, 0.0]


def test_stdio_tests(sandbox_ok):
    right = fenced("print(int(input()) * 2)")
    wrong_on_zero = fenced("n = int(input())\nprint(n * 2 if n else 'zero')")
    assert code_rewards([right, wrong_on_zero], [ECHO] * 2) == [1.0, pytest.approx(2 / 3)]
    assert code_reward(wrong_on_zero, ECHO, mode="all") == 0.0


@pytest.mark.parametrize("program", [
    "import sys\nsys.exit(0)",  # exit before the tests run
    "import os\nos._exit(0)",  # no result line at all
    "raise SystemExit(0)",
    "import atexit, os\natexit.register(lambda: os.write(1, b'x 4 4 1\\n'))",  # a forged result line
    "print('0' * 32, 4, 4, 1)\ndef add(a, b): return 7",  # a fake result line, a wrong add
    "import sys\nsys.stdout.write('x' * 3_000_000)\ndef add(a, b):\n    return a + b",  # floods, then right
])
def test_reward_hacks_do_not_pay(sandbox_ok, program):
    score = code_reward(fenced(program), ADD)
    assert score == (1.0 if "x' * 3_000_000" in program else 0.0)


def test_main_block_stays_off(sandbox_ok):
    program = "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(int(input()), 1))"
    assert code_reward(fenced(program), ADD) == 1.0


def test_hung_program_scores_zero_within_the_deadline(sandbox_ok):
    start = time.perf_counter()
    assert code_rewards([fenced("while True:\n    pass"), fenced("import time\ntime.sleep(60)")], [ADD] * 2,
                        timeout=1.5) == [0.0, 0.0]
    assert time.perf_counter() - start < 1.5 + 6.0


def test_invalid_utf8_output_is_scored_not_raised(sandbox_ok):
    program = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe2\\n')"
    assert code_reward(fenced(program), ECHO) == 0.0


@pytest.mark.parametrize("meta", [{}, {"tests": ""}, {"tests": [{"input": "1"}]}, {"tests": 5}])
def test_problem_without_usable_tests_is_skipped(meta):
    assert code_reward(fenced("x = 1"), Example("q", "p", "", meta=meta)) is None


def test_huge_completion_is_bounded(sandbox_ok):
    start = time.perf_counter()
    assert code_reward("```python\n" + "x = 1\n" * 200_000 + "```", ADD) == 0.0  # over MAX_PROGRAM_CHARS
    assert code_reward("`" * 1_000_000, ADD) == 0.0
    assert time.perf_counter() - start < 3.0


def test_refuses_to_start_without_bwrap_unless_unsafe_local(monkeypatch, sandbox_ok):
    import shutil

    from r1kit.errors import R1kitError
    from r1kit.rewards.registry import check_rewards
    from r1kit.verify import code
    from r1kit.sandbox import selftest

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else which(name, *a, **k))
    monkeypatch.setattr(selftest, "_passed", set())
    monkeypatch.setattr(code, "_sandboxes", {})
    with pytest.raises(R1kitError, match="bwrap not on PATH.*apt-get install bubblewrap"):
        check_rewards({"code": 1.0}, preflight=True)
    with pytest.raises(R1kitError, match="mode must be 'fraction' or 'all'"):
        check_rewards({"code": 1.0}, {"code": {"mode": "most"}}, preflight=True)
    check_rewards({"code": 1.0}, {"code": {"unsafe_local": True}}, preflight=True)  # the explicit opt-in
    assert code_reward(fenced("def add(a, b):\n    return a + b"), ADD, unsafe_local=True) == 1.0
