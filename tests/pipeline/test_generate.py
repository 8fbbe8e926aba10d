"""`r1kit generate` end to end: a teacher endpoint (the fake OpenAI server) and a tiny local model; resume,
a teacher failing mid-run, missing and empty inputs."""

import json

import pytest

from r1kit.cli import main
from r1kit.errors import R1kitError
from r1kit.pipeline.filters import FILTERS, FilterConfig
from r1kit.pipeline.generate import GenerateConfig, run_generate

from ..eval.fake_openai import FakeOpenAI

PROBLEMS = [("p1", "What is 1/2 as a decimal?", "0.5"), ("p2", "What is 2+2?", "4"), ("p3", "What is 3*3?", "9")]
RIGHT = {"1/2": "\\frac{1}{2}", "2+2": "4", "3*3": "9"}


def answer(messages, j):
    """Right on even samples, wrong (7) on odd ones; the reasoning does not depend on j, so the two right
    samples of a problem are the same text: one of them is a duplicate."""
    key = next(k for k in RIGHT if k in messages[-1]["content"])
    return f"Thinking about {key}.", f"So \\boxed{{{RIGHT[key] if j % 2 == 0 else 7}}}.", "stop"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps({"id": i, "problem": p, "answer": a}) + "\n" for i, p, a in PROBLEMS))
    return str(path)


def cfg(url, data, out, **kw):
    # test_fraction 0: every row is a training row (the default hash split would hold some out)
    return GenerateConfig(**{"model": "fake-model", "base_url": url, "data": data, "task_args": {"test_fraction": 0.0},
                             "samples": 4, "out": str(out), **kw})


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_endpoint_traces_are_verified_filtered_and_written(tmp_path, data, verifier_pool):
    with FakeOpenAI(answer) as fake:
        report = run_generate(cfg(fake.url, data, tmp_path / "o"), progress=False)
    samples = lines(tmp_path / "o" / "samples.jsonl")
    assert len(samples) == 12 and {s["problem_id"] for s in samples} == {"p1", "p2", "p3"}
    first = next(s for s in samples if s["problem_id"] == "p1" and s["sample"] == 0)
    assert first["reasoning"] == "Thinking about 1/2." and first["content"] == "So \\boxed{\\frac{1}{2}}."
    assert first["correct"] is True and first["finish_reason"] == "stop" and first["tokens"] == 5
    assert first["messages"][0]["role"] == "user" and PROBLEMS[0][1] in first["messages"][0]["content"]
    # per problem: samples 0, 2 right (the same text), 1, 3 wrong -> 1 kept, 2 incorrect, 1 duplicate
    assert report["samples"] == 12 and report["correct"] == 6 and report["kept"] == 3
    assert report["removed"] == {**dict.fromkeys(FILTERS, 0), "incorrect": 6, "duplicate": 3}
    assert json.loads((tmp_path / "o" / "report.json").read_text()) == report
    with FakeOpenAI(answer) as fake:  # fewer samples per problem over the same folder: read back, none asked
        fewer = run_generate(cfg(fake.url, data, tmp_path / "o", samples=2), progress=False)
        assert fake.chat_requests == []
    assert fewer["samples"] == 6 and fewer["removed"]["incorrect"] == 3 and fewer["kept"] == 3
    rows = lines(tmp_path / "o" / "filtered.jsonl")
    assert [r["problem_id"] for r in rows] == ["p1", "p2", "p3"]
    assert rows[1]["messages"] == [first_user(samples, "p2"), {"role": "assistant",
                                   "content": "<think>\nThinking about 2+2.\n</think>\n\nSo \\boxed{4}."}]
    from r1kit.data.chat import load_conversations  # what `r1kit train sft` reads

    assert load_conversations(str(tmp_path / "o" / "filtered.jsonl")) == [r["messages"] for r in rows]


def first_user(samples, pid):
    return next(s["messages"][0] for s in samples if s["problem_id"] == pid)


def test_teacher_failing_mid_run_keeps_samples_and_resumes(tmp_path, data, verifier_pool, capsys):
    calls = []

    def failing_after_first(messages, j):
        calls.append(j)
        fake.fail(500, times=None)  # the first request is answered; every later one fails
        return answer(messages, j)

    args = ["generate", "--model", "fake-model", "--data", data, "--out", str(tmp_path / "o"), "--samples", "4",
            "--no-progress", "--task_args={test_fraction: 0.0}", "--problems_per_batch=1", "--concurrency=1",
            "--max_retries=1", "--retry_backoff=0.01"]
    with FakeOpenAI(failing_after_first) as fake:
        assert main([*args, "--base-url", fake.url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: generate:") and "samples.jsonl" in err
    assert "500" in err and "4 of 12" in err
    assert len(lines(tmp_path / "o" / "samples.jsonl")) == 4 and not (tmp_path / "o" / "report.json").exists()
    with FakeOpenAI(answer) as fake:  # the teacher is back: only the two missing problems are asked for
        assert main([*args, "--base-url", fake.url]) == 0
        asked = sorted(r.body["messages"][0]["content"].split("\n")[0] for r in fake.chat_requests)
    assert asked == [PROBLEMS[1][1], PROBLEMS[2][1]]
    samples = lines(tmp_path / "o" / "samples.jsonl")
    assert sorted((s["problem_id"], s["sample"]) for s in samples) == [(p, k) for p in ("p1", "p2", "p3") for k in range(4)]
    assert json.loads((tmp_path / "o" / "report.json").read_text())["kept"] == 3
    assert "kept 3" in capsys.readouterr().out


def test_missing_or_empty_input_is_one_line_naming_stage_and_file(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main(["generate", "--model", "m", "--data", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: generate:") and str(missing) in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(R1kitError, match=f"generate: .*{empty}"):
        run_generate(GenerateConfig(model="m", data=str(empty), out=str(tmp_path / "o")), progress=False)
    assert not (tmp_path / "o").exists()  # nothing written before the input is known good


@pytest.mark.parametrize("template", ["r1_zero", "chat"])
def test_local_model_end_to_end_and_resume_reproduces(tmp_path, tiny_model_dir, one_thread, template):
    """A tiny random model writes garbage; with the answer checks off its samples still flow through."""
    keep_all = FilterConfig(correct=False, truncated=False, min_language_share=0, max_repetition=0)
    c = GenerateConfig(model=str(tiny_model_dir), task="arithmetic", task_args={"digits": 2}, limit=3, samples=2,
                       max_new_tokens=6, template=template, out=str(tmp_path / "o"), filters=keep_all, device="cpu",
                       readable=True)
    report = run_generate(c, progress=False)
    path = tmp_path / "o" / "samples.jsonl"
    before = path.read_text().splitlines()
    assert len(before) == 6 and report["samples"] == 6
    assert all(s["tokens"] <= 6 and s["correct"] is False for s in map(json.loads, before))
    if template == "chat":  # the prompt opens <think>: a sample that never closes it is all reasoning
        assert all(s["reasoning"] and not s["content"] for s in map(json.loads, before) if "</think>" not in
                   s["completion"])
    assert report["kept"] + sum(report["removed"].values()) == 6
    rows = lines(tmp_path / "o" / "filtered.jsonl")
    assert len(rows) == report["kept"] and all(r["messages"][-1]["role"] == "assistant" for r in rows)
    from r1kit.pipeline.filters import readable, to_chat

    kept = {(r["problem_id"], r["sample"]) for r in rows}
    assert rows == [to_chat(readable(s)) for s in map(json.loads, before) if (s["problem_id"], s["sample"]) in kept]
    path.write_text("\n".join(before[:3]) + "\n" + before[3][:10])  # killed mid-write: a torn line
    run_generate(c, progress=False)
    after = path.read_text().splitlines()
    assert sorted(after) == sorted(before)  # the local engine reproduces the lost samples exactly


def judge_answer(messages, j):
    """The fake judge: CORRECT when the response's final part boxes x (the reference), else INCORRECT."""
    return "", ("CORRECT" if "\\boxed{x}" in messages[-1]["content"].split("Final part")[-1] else "INCORRECT"), "stop"


def test_judge_decides_uncheckable_samples_and_resumes_after_failing(tmp_path, verifier_pool, capsys):
    """A gold verify cannot parse ("\\boxed{x") leaves the sample unscored; the judge sees the reference."""
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "problem": "Name the unknown.", "answer": "\\boxed{x"}) + "\n")

    def teacher(messages, j):
        return "Call it x.", "So \\boxed{x}." if j % 2 == 0 else "So \\boxed{y}.", "stop"

    def failing_judge(messages, j):
        judge.fail(503, times=None)  # one verdict, then the judge goes down
        return judge_answer(messages, j)

    with FakeOpenAI(teacher) as fake, FakeOpenAI(failing_judge, models=("judge",)) as judge:
        c = cfg(fake.url, str(path), tmp_path / "o", judge_url=judge.url, judge_model="judge", concurrency=1,
                max_retries=0)
        with pytest.raises(R1kitError, match="generate: the judge failed .*judgments.jsonl.*503"):
            run_generate(c, progress=False)
    assert len(lines(tmp_path / "o" / "samples.jsonl")) == 4  # the teacher's samples are all kept
    assert len(lines(tmp_path / "o" / "judgments.jsonl")) == 1
    with FakeOpenAI(teacher) as fake, FakeOpenAI(judge_answer, models=("judge",)) as judge:
        report = run_generate(cfg(fake.url, str(path), tmp_path / "o", judge_url=judge.url, judge_model="judge"),
                              progress=False)
        assert fake.chat_requests == [] and len(judge.chat_requests) == 3  # only the unjudged samples
        assert all("Reference answer:\n\\boxed{x" in r.body["messages"][0]["content"] and "Call it" not in
                   r.body["messages"][0]["content"] for r in judge.chat_requests)  # reference, never the reasoning
    judged = {(r["sample"], r["judged"]) for r in lines(tmp_path / "o" / "judgments.jsonl")}
    assert judged == {(0, True), (1, False), (2, True), (3, False)}
    assert report["uncheckable"] == 4 and report["judged_correct"] == 2
    assert report["kept"] == 1 and report["removed"]["incorrect"] == 2 and report["removed"]["duplicate"] == 1


def test_mix_in_non_reasoning_rows_by_ratio(tmp_path, data, verifier_pool):
    mix = tmp_path / "chat.jsonl"
    mix.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                    {"role": "assistant", "content": f"hello {i}"}]}) + "\n"
                           for i in range(10)))
    with FakeOpenAI(answer) as fake:
        report = run_generate(cfg(fake.url, data, tmp_path / "o", mix_data=str(mix), mix_ratio=0.5), progress=False)
    rows = lines(tmp_path / "o" / "filtered.jsonl")
    plain = [r for r in rows if not r["messages"][-1]["content"].startswith("<think>")]
    assert report["kept"] == 3 and report["mixed_in"] == 3 and len(rows) == 6 and len(plain) == 3  # 3 / 6 = 0.5
    assert len({r["messages"][0]["content"] for r in plain}) == 3  # drawn without replacement


def test_mix_in_ratio_and_bad_mix_file(tmp_path):
    from r1kit.pipeline.generate import mix_in, read_mix

    rows, mix = [{"r": i} for i in range(3)], [{"m": i} for i in range(10)]
    assert len(mix_in(rows, mix, 0.25)) == 4  # round(3 * 0.25 / 0.75) = 1
    assert len(mix_in(rows, mix, 0.9)) == 13  # 27 wanted, the 10 there are
    assert mix_in(rows, mix, 0.5, seed=1) == mix_in(rows, mix, 0.5, seed=1) and mix_in(rows, [], 0.5) == rows
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "assistant", "content": "a"}]}) + "\n"
                   + json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
    with pytest.raises(R1kitError, match=f"generate: {bad}: row 2 has no assistant turn"):
        read_mix(str(bad))
    with pytest.raises(R1kitError, match="generate: data file not found: .*none.jsonl"):
        read_mix(str(tmp_path / "none.jsonl"))


def test_teacher_down_or_bad_settings_fail_before_writing(tmp_path, data, capsys):
    with pytest.raises(R1kitError, match="generate: endpoint http://127.0.0.1:9/v1 is not reachable"):
        run_generate(cfg("http://127.0.0.1:9/v1", data, tmp_path / "o"), progress=False)
    assert not (tmp_path / "o").exists()
    assert main(["generate", "--model", "m", "--data", data, "--out", str(tmp_path / "o"),
                 "--filters.language=fr"]) == 2
    assert capsys.readouterr().err.strip() == "error: filters.language must be one of en, zh, got 'fr'"
    with pytest.raises(R1kitError, match="generate: model path not found: ./no-model"):
        run_generate(GenerateConfig(model="./no-model", data=data, out=str(tmp_path / "o")), progress=False)
    assert not (tmp_path / "o").exists()
