"""The `llm_judge` reward against a fake OpenAI endpoint: the score mapping, the judge never sees the reasoning,
unparsable / failing replies give None without raising, retries, the preflight, and use through per_type."""

import re
import socket

import pytest

from r1kit.data.base import Example
from r1kit.errors import R1kitError
from r1kit.rewards import llm_judge as lj
from r1kit.rewards.context import RewardContext
from r1kit.rewards.registry import check_rewards, compute_rewards

from ..eval.fake_openai import FakeOpenAI

EX = Example("gen-1", "Write a haiku about rain.", "", {"type": "general"})
CTX = RewardContext()
FAST = {"backoff": 0.01, "timeout": 5.0}


def reply_from_response(messages, j):
    """The judge's reply: the digits after "SCORE=" in the response it was shown (else a reply with no score)."""
    shown = messages[-1]["content"].split("Response:\n", 1)[1]
    m = re.search(r"SCORE=(\d+)", shown)
    return "", ("Fine.\nScore: " + m.group(1)) if m else "I cannot rate this.", "stop"


@pytest.fixture
def fake():
    with FakeOpenAI(reply_from_response, models=("judge",)) as f:
        yield f


def judge(fake, completions, contexts=None, **options):
    contexts = contexts or [CTX] * len(completions)
    return lj.llm_judge_rewards(completions, [EX] * len(completions), contexts, base_url=fake.url,
                                model="judge", **{**FAST, **options})


@pytest.mark.parametrize("reply, scale, want", [
    ("Score: 10", 10, 1.0), ("Score: 1", 10, 0.0), ("ok\nScore: 7", 10, 6 / 9), ("**Score:** 3", 5, 0.5),
    ("Score: 2\nOn reflection, score: 4", 10, 3 / 9),          # the last one counts
    ("Score: 11", 10, None), ("Score: 0", 10, None),           # outside 1..scale
    ("It is good.", 10, None), ("", 10, None), (None, 10, None),
])
def test_parse_score_table(reply, scale, want):
    got = lj.parse_score(reply, scale)
    assert got == (None if want is None else pytest.approx(want))


def test_scores_map_to_unit_interval(fake):
    got = judge(fake, ["<think>r</think> SCORE=10", "<think>r</think> SCORE=1", "<think>r</think> SCORE=7", "SCORE=3"])
    assert got == pytest.approx([1.0, 0.0, 6 / 9, 2 / 9])
    body = fake.chat_requests[0].body
    assert body["model"] == "judge" and body["temperature"] == 0.0 and body["max_tokens"] == 512
    assert 'last line in the form "Score: N"' in body["messages"][0]["content"]


def test_the_judge_never_sees_the_reasoning(fake):
    done = "<think>SECRET-PLAN about SCORE=1</think>\nA haiku: drops on the roof. SCORE=9"
    judge(fake, [done])
    (req,) = fake.chat_requests
    text = req.body["messages"][0]["content"]
    assert "SECRET-PLAN" not in text and "<think>" not in text and "</think>" not in text
    assert "A haiku: drops on the roof. SCORE=9" in text and EX.problem in text


def test_no_final_part_is_missing_without_a_request(fake):
    opened = RewardContext(think_open=True)
    got = judge(fake, ["<think>never closed SCORE=9", "<think>r</think>   ", "SCORE=9 but still reasoning"],
                [CTX, CTX, opened])
    assert got == [None, None, None] and fake.chat_requests == []
    assert judge(fake, ["<think>never closed"], missing=-1.0) == [-1.0]


def test_equal_answers_asked_once(fake):
    got = judge(fake, ["<think>a</think> SCORE=8", "<think>b</think> SCORE=8", "SCORE=2"])
    assert got == pytest.approx([7 / 9, 7 / 9, 1 / 9]) and len(fake.chat_requests) == 2


def test_unparsable_reply_is_none(fake):
    assert judge(fake, ["<think>r</think> no score here", "SCORE=5"]) == [None, pytest.approx(4 / 9)]


def test_failing_server_gives_none_without_raising(fake, caplog):
    fake.fail(500, times=None)
    with caplog.at_level("WARNING", logger="r1kit.rewards.llm_judge"):
        got = judge(fake, ["SCORE=9", "SCORE=3"], max_retries=2)
    assert got == [None, None]
    assert len(fake.chat_requests) == 2 * 3                  # one try and two retries each
    assert "2 of 2 requests" in caplog.text and "500" in caplog.text


def test_a_wrong_key_is_not_retried(fake):
    fake.fail(401, times=None)
    assert judge(fake, ["SCORE=9"]) == [None] and len(fake.chat_requests) == 1


def test_retries_after_429_then_succeeds(fake):
    fake.fail(429, times=1, retry_after="0")
    assert judge(fake, ["SCORE=10"], max_retries=1) == [1.0]
    assert len(fake.chat_requests) == 2


def test_malformed_body_is_retried(fake):
    fake.fail("bad_json", times=1)
    assert judge(fake, ["SCORE=4"]) == [pytest.approx(3 / 9)] and len(fake.chat_requests) == 2


def test_concurrency_bounds_requests_in_flight():
    with FakeOpenAI(reply_from_response, models=("judge",), delay=0.05) as fake:
        got = judge(fake, [f"SCORE={k}" for k in range(1, 11)], concurrency=3)
    assert got == pytest.approx([k / 9 for k in range(10)])
    assert 1 < fake.max_in_flight <= 3


def test_api_key_is_sent_from_the_named_variable(fake, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    judge(fake, ["SCORE=5"], api_key_env="JUDGE_KEY")
    assert fake.chat_requests[0].headers["authorization"] == "Bearer sk-test"


def dead_url() -> str:
    with socket.socket() as s:                               # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_dead_endpoint_scores_none_and_preflight_fails():
    url = dead_url()
    got = lj.llm_judge_rewards(["SCORE=9"], [EX], [CTX], base_url=url, model="judge", max_retries=1, backoff=0.01)
    assert got == [None]
    with pytest.raises(R1kitError, match=rf"^llm_judge: cannot reach {re.escape(url)}: .+"):
        check_rewards({"llm_judge": 1.0}, {"llm_judge": {"base_url": url, "model": "judge"}}, preflight=True)


def test_preflight_checks_options_and_answers(fake):
    check_rewards({"llm_judge": 1.0}, {"llm_judge": {"base_url": fake.url, "model": "judge"}}, preflight=True)
    assert [r.path for r in fake.requests] == ["/v1/models"]
    with pytest.raises(R1kitError, match="set reward_options.llm_judge.base_url"):
        check_rewards({"llm_judge": 1.0}, {"llm_judge": {"model": "judge"}}, preflight=True)
    with pytest.raises(R1kitError, match="returned 404 .does the URL end with /v1"):
        check_rewards({"llm_judge": 1.0}, {"llm_judge": {"base_url": fake.url[:-3], "model": "judge"}},
                      preflight=True)
    with pytest.raises(R1kitError, match="scale must be >= 2"):
        check_rewards({"llm_judge": 1.0}, {"llm_judge": {"base_url": fake.url, "model": "judge", "scale": 1}},
                      preflight=True)
    with pytest.raises(R1kitError, match="unknown option.*temperature"):
        check_rewards({"llm_judge": 1.0}, {"llm_judge": {"temperature": 0.5}})


def test_through_per_type(fake):
    reasoning = Example("r", "1 + 2", "3", {})
    options = {"per_type": {"weights": {"reasoning": {"format": 1.0}, "general": {"llm_judge": 2.0}},
                            "options": {"llm_judge": {"base_url": fake.url, "model": "judge", **FAST}}}}
    check_rewards({"per_type": 1.0}, options, preflight=True)
    completions = ["<think>x</think> SCORE=10", "<think>x</think> SCORE=4", "<think>x</think> shrug",
                   "<think>a</think> <answer>3</answer>"]
    totals, parts = compute_rewards(completions, [EX, EX, EX, reasoning], None, {"per_type": 1.0}, options=options)
    assert parts["per_type"] == pytest.approx([2.0, 2 * 3 / 9, None, 1.0])   # unparsable: None, counts 0
    assert totals == pytest.approx([2.0, 2 / 3, 0.0, 1.0])
    assert len(fake.chat_requests) == 3                                       # reasoning rows never reach the judge
