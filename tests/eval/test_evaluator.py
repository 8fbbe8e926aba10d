"""The one evaluator's rule (rollout.evaluate): chunks and seeds, missing samples, verdicts, pass@1 by hand."""

from math import sqrt

import pytest

from r1kit.data.tasks import get_task
from r1kit.rollout.evaluate import SEED_STRIDE, Completion, EvalSettings, evaluate, sample_and_score
from r1kit.verify import Verdict

TASK = get_task("arithmetic", digits=2)
EXAMPLES = TASK.examples("test", 5)


class Scripted:
    """Sample j of problem p answers script[p][j] (default: the gold); records every request."""

    def __init__(self, script=None, whole_batches=True, think_open=False):
        self.script, self.whole_batches, self.think_open = script or {}, whole_batches, think_open
        self.calls: list[list[dict]] = []

    def generate(self, requests, on_done=None):
        self.calls.append(requests)
        out = []
        for i, r in enumerate(requests):
            ex = next(e for e in EXAMPLES if e.problem == r["messages"][0]["content"])
            answers = self.script.get(ex.id, [ex.answer] * r["n"])
            out.append([Completion(f" <think>\n</think> <answer>{a}</answer>", "", a, 7, "stop")
                        for a in answers[: r["n"]]])
            if on_done:
                on_done(i, out[-1])
        return out


def test_one_call_per_chunk_seeded_by_chunk():
    s = EvalSettings(samples=3, seed=2, problems_per_batch=2, max_new_tokens=9, stop=("</answer>",))
    sampler = Scripted()
    evaluate(sampler, TASK, EXAMPLES, s)
    assert [len(c) for c in sampler.calls] == [2, 2, 1]
    for j, call in enumerate(sampler.calls):
        assert {r["seed"] for r in call} == {2 * SEED_STRIDE + j}
        assert all(r["n"] == 3 and r["max_tokens"] == 9 and r["stop"] == ["</answer>"] and r["temperature"] == 0.6
                   and r["top_p"] == 0.95 for r in call)
    assert [r["messages"][0]["content"] for c in sampler.calls for r in c] == [ex.problem for ex in EXAMPLES]


def test_pass_at_1_by_hand():
    ids = [ex.id for ex in EXAMPLES]
    script = {ids[0]: ["1", EXAMPLES[0].answer, "x", EXAMPLES[0].answer],  # 2 of 4
              ids[1]: ["0", "0", "0", "0"]}                                # 0 of 4; the rest 4 of 4
    res = evaluate(Scripted(script), TASK, EXAMPLES, EvalSettings(samples=4))
    assert res.per_problem == [0.5, 0.0, 1.0, 1.0, 1.0]
    assert res.pass_at_1 == pytest.approx(3.5 / 5)
    var = sum((x - 0.7) ** 2 for x in res.per_problem) / 4
    assert res.stderr == pytest.approx(sqrt(var / 5))
    assert [r.answer for r in res.records[:4]] == ["1", EXAMPLES[0].answer, "x", EXAMPLES[0].answer]
    assert [r.correct for r in res.records[:4]] == [False, True, False, True]
    assert [(r.problem_id, r.sample) for r in res.records[:5]] == [(ids[0], 0), (ids[0], 1), (ids[0], 2), (ids[0], 3),
                                                                   (ids[1], 0)]
    assert res.n_problems == 5 and res.mean_length == 7 and len(res.texts) == 20


def test_whole_batch_sampler_redraws_the_chunk_and_keeps_only_missing():
    want = {EXAMPLES[1].id: [1, 3]}  # problem 1 misses samples 1 and 3; chunk 0 (0, 1) is sampled again
    script = {EXAMPLES[1].id: ["a", "b", "c", "d"]}
    got, sampler = [], Scripted(script)
    sample_and_score(sampler, TASK, EXAMPLES, EvalSettings(samples=4, problems_per_batch=2),
                     missing=lambda ex: want.get(ex.id, []), on_problem=lambda i, ex, recs: got.append((i, recs)))
    assert len(sampler.calls) == 1 and [r["n"] for r in sampler.calls[0]] == [4, 4]  # chunks 1, 2: nothing missing
    assert [(i, [(r.sample, r.answer) for r in recs]) for i, recs in got] == [(1, [(1, "b"), (3, "d")])]


def test_endpoint_sampler_is_asked_only_for_missing():
    want = {EXAMPLES[0].id: [2], EXAMPLES[3].id: [0, 1]}
    got, sampler = [], Scripted(whole_batches=False)
    sample_and_score(sampler, TASK, EXAMPLES, EvalSettings(samples=4, problems_per_batch=2, seed=1),
                     missing=lambda ex: want.get(ex.id, []), on_problem=lambda i, ex, recs: got.append((i, recs)))
    assert [[(r["messages"][0]["content"], r["n"], r["seed"]) for r in c] for c in sampler.calls] == [
        [(EXAMPLES[0].problem, 1, SEED_STRIDE), (EXAMPLES[3].problem, 2, SEED_STRIDE + 1)]]  # one call, chunk seeds
    assert [(i, [r.sample for r in recs]) for i, recs in got] == [(0, [2]), (3, [0, 1])]


def test_unscored_samples_and_think_open_reach_verify(monkeypatch):
    import r1kit.verify

    seen = []

    def fake_score(task, completions, examples, *, think_open=False):
        seen.append(think_open)
        unscored = {EXAMPLES[2].id: [0, 1], EXAMPLES[4].id: [0]}  # problem 4 keeps one scored sample
        return [Verdict("1", None if j in unscored.get(ex.id, []) else 1.0) for j, ex in enumerate(examples)]

    monkeypatch.setattr(r1kit.verify, "score", fake_score)
    res = evaluate(Scripted(think_open=True), TASK, EXAMPLES, EvalSettings(samples=2))
    assert set(seen) == {True}
    assert res.unscored == 1 and res.n_problems == 4 and res.per_problem == [1.0] * 4 and res.pass_at_1 == 1.0
    assert [r.correct for r in res.records if r.problem_id == EXAMPLES[2].id] == [None, None]
