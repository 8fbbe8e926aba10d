"""`run_eval` against a real HTTP server on 127.0.0.1 (the fake OpenAI server), streaming and not."""

import json

import pytest

from r1kit.errors import R1kitError
from r1kit.eval.runner import EvalRunConfig, run_eval

from .fake_openai import FakeOpenAI

PROBLEMS = [("p1", "What is 1/2 as a decimal?", "0.5"), ("p2", "What is 2+2?", "4"), ("p3", "What is 3*3?", "9")]


def answer(messages, j):
    """Right on even samples (\\frac12 for p1: equivalent, not equal, to the gold), wrong on odd ones."""
    text = messages[-1]["content"]
    right = {"1/2": "\\frac{1}{2}", "2+2": "4", "3*3": "9"}
    key = next(k for k in right if k in text)
    return f"Thinking about {key}.", f"So \\boxed{{{right[key] if j % 2 == 0 else 7}}}.", "stop"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps({"id": i, "problem": p, "answer": a}) + "\n" for i, p, a in PROBLEMS))
    return str(path)


def cfg(url, data, out, **kw):
    return EvalRunConfig(**{"model": "fake-model", "base_url": url, "benchmarks": [data], "scorer": "math",
                            "samples": 4, "out": str(out), "reference": False, **kw})


@pytest.mark.parametrize("stream", [False, True])
def test_endpoint_eval(tmp_path, data, verifier_pool, stream):
    with FakeOpenAI(answer) as fake:
        summary = run_eval(cfg(fake.url, data, tmp_path / "o", stream=stream, problems_per_batch=1),
                           progress=False)["b"]
        bodies = [r.body for r in fake.chat_requests]
    assert summary["pass@1"]["mean"] == 0.5 and summary["pass@k"]["4"]["mean"] == 1.0
    # 2 right vs 2 wrong (7) per problem, a tie: the group seen first wins. The fake's sample index is
    # seed + choice and chunk j is seeded with j (one problem per chunk here), so p2 starts with a wrong
    # sample: cons@4 = 2/3.
    assert sorted(b["seed"] for b in bodies) == [0, 1, 2]
    assert summary["cons@k"]["mean"] == pytest.approx(2 / 3)
    recs = [json.loads(line) for line in (tmp_path / "o" / "b" / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and recs[0]["reasoning"].startswith("Thinking about")
    assert "</think>" in recs[0]["completion"]
    assert all(b["temperature"] == 0.6 and b["top_p"] == 0.95 and b.get("stream", False) == stream for b in bodies)
    directive = "\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert sorted(b["messages"][0]["content"] for b in bodies) == sorted(p + directive for _, p, _ in PROBLEMS)
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for b in bodies)  # no system prompt


def test_failed_endpoint_keeps_partial_results_and_resumes(tmp_path, data, verifier_pool):
    with FakeOpenAI(answer) as fake:
        run_eval(cfg(fake.url, data, tmp_path / "o", limit=1), progress=False)  # p1's 4 samples on disk
        fake.fail(500, times=None)  # from now on every request fails
        with pytest.raises(R1kitError, match="500"):
            run_eval(cfg(fake.url, data, tmp_path / "o", max_retries=2, retry_backoff=0.01), progress=False)
        assert len(fake.chat_requests) >= 1 + 3  # p1, then p2 or p3: 1 try + 2 retries
    assert len((tmp_path / "o" / "b" / "samples.jsonl").read_text().splitlines()) == 4  # kept
    with FakeOpenAI(answer) as fake:  # the server comes back: only what is missing is asked for
        summary = run_eval(cfg(fake.url, data, tmp_path / "o"), progress=False)["b"]
        assert sorted(r.body["messages"][0]["content"].split("\n")[0] for r in fake.chat_requests) == \
            [PROBLEMS[1][1], PROBLEMS[2][1]]
    with FakeOpenAI(answer) as fake:
        assert run_eval(cfg(fake.url, data, tmp_path / "o"), progress=False)["b"] == summary
        assert fake.chat_requests == []  # nothing left to sample
    assert summary["n_problems"] == 3 and len(summary["pass@k"]) == 4


def test_endpoint_down_is_a_clear_error(tmp_path, data):
    with pytest.raises(R1kitError, match="not reachable"):
        run_eval(cfg("http://127.0.0.1:9/v1", data, tmp_path / "o"), progress=False)
