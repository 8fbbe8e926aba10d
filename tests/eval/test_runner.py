"""`run_eval`: per-sample file, summary, resume after a kill, bad input; local model and a fake backend."""

import json

import pytest

from r1kit.errors import R1kitError
from r1kit.eval.endpoint import Completion
from r1kit.eval.local import LocalBackend
from r1kit.eval.runner import EvalRunConfig, evaluate_benchmark, run_eval


def local_cfg(model_dir, out, **kw):
    args = dict(model=str(model_dir), benchmarks=["arithmetic"], samples=3, limit=6, problems_per_batch=2,
                max_new_tokens=12, template="r1_zero", out=str(out), reference=False)
    return EvalRunConfig(**{**args, **kw})


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_local_run_writes_samples_summary_and_table(tiny_model_dir, tmp_path):
    summaries = run_eval(local_cfg(tiny_model_dir, tmp_path / "ev"), progress=False)
    s = summaries["arithmetic"]
    assert s["n_problems"] == 6 and s["samples_per_problem"] == {"min": 3, "max": 3} and set(s["pass@k"]) == {"1", "2", "3"}
    recs = lines(tmp_path / "ev" / "arithmetic" / "samples.jsonl")
    assert len(recs) == 18 and len({(r["problem_id"], r["sample"]) for r in recs}) == 18
    assert set(recs[0]) >= {"problem_id", "sample", "completion", "answer", "correct", "tokens", "finish_reason"}
    assert all(1 <= r["tokens"] <= 12 for r in recs)
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["arithmetic"] == s
    assert "| Model |" in (tmp_path / "ev" / "table.md").read_text()
    assert (tmp_path / "ev" / "config.yaml").exists()


def test_resume_after_kill_equals_uninterrupted(tiny_model_dir, tmp_path, monkeypatch):
    whole = run_eval(local_cfg(tiny_model_dir, tmp_path / "whole"), progress=False)
    real, calls = LocalBackend.generate, []

    def dying(self, requests, on_done=None):
        calls.append(1)
        if len(calls) == 2:  # the second chunk: write its first problem, then die mid-chunk
            real(self, requests, lambda i, c: on_done(i, c) if i == 0 else None)
            raise KeyboardInterrupt
        return real(self, requests, on_done)

    monkeypatch.setattr(LocalBackend, "generate", dying)
    with pytest.raises(KeyboardInterrupt):
        run_eval(local_cfg(tiny_model_dir, tmp_path / "resumed"), progress=False)
    path = tmp_path / "resumed" / "arithmetic" / "samples.jsonl"
    assert len(lines(path)) == 9  # chunk 1 (2 problems x 3) + the first problem of chunk 2
    with path.open("a") as f:
        f.write('{"problem_id": "torn')  # a write cut off by the kill
    monkeypatch.setattr(LocalBackend, "generate", real)
    resumed = run_eval(local_cfg(tiny_model_dir, tmp_path / "resumed"), progress=False)
    assert resumed == whole
    key = lambda r: (r["problem_id"], r["sample"], r["completion"])  # noqa: E731
    assert sorted(map(key, lines(path))) == sorted(map(key, lines(tmp_path / "whole" / "arithmetic" / "samples.jsonl")))


def test_rerun_of_a_finished_run_samples_nothing(tiny_model_dir, tmp_path, monkeypatch):
    first = run_eval(local_cfg(tiny_model_dir, tmp_path / "ev"), progress=False)
    monkeypatch.setattr(LocalBackend, "generate", lambda *a, **k: pytest.fail("sampled again"))
    assert run_eval(local_cfg(tiny_model_dir, tmp_path / "ev"), progress=False) == first


class ScriptedBackend:
    """Answers problem i, sample j with script[problem][j]; each request on its own, as an endpoint."""

    think_open, whole_batches = False, False

    def __init__(self, script):
        self.script = script

    def generate(self, requests, on_done=None):
        out = []
        for i, req in enumerate(requests):
            texts = self.script[req["messages"][0]["content"].split("\n")[0]][: req["n"]]
            out.append([Completion(t, "", t, 5, "length" if "..." in t else "stop") for t in texts])
            if on_done:
                on_done(i, out[-1])
        return out


def test_math_summary_by_hand(tmp_path, verifier_pool):
    data = tmp_path / "b.jsonl"
    data.write_text('{"id": "p1", "problem": "half", "answer": "1/2"}\n{"id": "p2", "problem": "three", "answer": "3"}\n')
    script = {"half": ["\\boxed{0.5}", "\\boxed{\\frac12}", "\\boxed{7}", "no answer ..."],
              "three": ["\\boxed{4}", "\\boxed{4}", "\\boxed{3}", "\\boxed{3.0}"]}
    cfg = EvalRunConfig(model="scripted", benchmarks=[str(data)], scorer="math", samples=4, out=str(tmp_path / "o"),
                        base_url="http://unused")
    from r1kit.eval.benchmarks import load_benchmark

    task = load_benchmark(str(data), scorer="math")
    s = evaluate_benchmark(ScriptedBackend(script), task, cfg, tmp_path / "o" / "b", progress=False)
    assert s["pass@1"]["mean"] == pytest.approx((2 / 4 + 2 / 4) / 2)
    assert s["pass@k"]["4"]["mean"] == 1.0
    # cons@4: p1 votes {1/2: 2, 7: 1} -> right; p2 votes {4: 2, 3: 2} tie -> the earlier group (4) -> wrong
    assert s["cons@k"]["mean"] == 0.5
    assert s["parse_failures"] == 1 and s["truncation_rate"] == pytest.approx(1 / 8)


def test_bad_input_is_a_one_line_error(tmp_path, tiny_model_dir):
    with pytest.raises(R1kitError, match="unknown benchmark 'aime2024'; valid: aime24"):
        run_eval(local_cfg(tiny_model_dir, tmp_path / "x", benchmarks=["aime2024"]), progress=False)
    data = tmp_path / "b.jsonl"
    data.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2"}\n')
    with pytest.raises(R1kitError, match="row 2 has no 'answer'"):
        run_eval(local_cfg(tiny_model_dir, tmp_path / "x", benchmarks=[str(data)], scorer="math"), progress=False)
    with pytest.raises(R1kitError, match="needs --scorer"):
        run_eval(local_cfg(tiny_model_dir, tmp_path / "x", benchmarks=[str(data)]), progress=False)
    with pytest.raises(R1kitError, match="--model is required"):
        EvalRunConfig(benchmarks=["aime24"])
    assert not (tmp_path / "x").exists()  # nothing written before the input is known good


def test_unscored_problem_is_left_out_and_counted(tmp_path, monkeypatch, verifier_pool):
    """A gold verify cannot check (Verdict.score None) leaves its problem out of pass@1, counted as unscored."""
    import r1kit.verify
    from r1kit.eval.benchmarks import load_benchmark
    from r1kit.verify import Verdict

    data = tmp_path / "b.jsonl"
    data.write_text('{"id": "p1", "problem": "half", "answer": "1/2"}\n{"id": "p2", "problem": "three", "answer": "3"}\n')
    script = {"half": ["\\boxed{1/2}", "\\boxed{7}"], "three": ["\\boxed{3}", "\\boxed{3}"]}
    monkeypatch.setattr(r1kit.verify, "score", lambda task, comps, exs, think_open=False: [
        Verdict(c, None if ex.id == "p2" else float(c == "\\boxed{1/2}")) for c, ex in zip(comps, exs)])
    cfg = EvalRunConfig(model="scripted", benchmarks=[str(data)], scorer="math", samples=2, base_url="http://unused")
    s = evaluate_benchmark(ScriptedBackend(script), load_benchmark(str(data), scorer="math"), cfg, tmp_path / "o",
                           progress=False)
    assert s["unscored"] == 1 and s["n_problems"] == 1 and s["pass@1"]["mean"] == 0.5
    recs = lines(tmp_path / "o" / "samples.jsonl")
    assert [r["correct"] for r in recs if r["problem_id"] == "p2"] == [None, None]
