"""One definition of correct: the accuracy reward, the choice reward and verify.score (what eval calls)
give every completion of the table the same score, and the score written in the table (issue 9)."""

import pytest

from r1kit.data.arithmetic import ArithmeticTask
from r1kit.data.base import Example
from r1kit.data.choice import JsonlChoiceTask
from r1kit.data.code import JsonlCodeTask
from r1kit.data.countdown import CountdownTask
from r1kit.data.jsonl import JsonlMathTask
from r1kit.rewards.context import RewardContext
from r1kit.rewards.registry import compute_rewards
from r1kit.verify import Verdict, equivalent, score

MATH = JsonlMathTask(rows=[{"problem": "6 * 7?", "answer": "42"}, {"problem": "bad gold", "answer": "\\boxed{x"}],
                     name="m", test_fraction=1.0)
CHOICE = JsonlChoiceTask(rows=[{"problem": "Which?", "choices": ["a", "b", "c", "d"], "answer": "C"}],
                         test_fraction=1.0)
ARITH = ArithmeticTask()
COUNTDOWN = CountdownTask()
EXAMPLES = {
    "math": (MATH, MATH.examples("test")[0]),
    "math_bad_gold": (MATH, MATH.examples("test")[1]),
    "choice": (CHOICE, CHOICE.examples("test")[0]),
    "arithmetic": (ARITH, ARITH._example("a", 12345, 67890)),  # 80235
    "countdown": (COUNTDOWN, Example("c", "", "", {"numbers": [44, 19, 35], "target": 28})),
}

# (problem, completion, think_open, expected score)
TABLE = [
    ("math", "<think>six times seven</think> 42", False, 1.0),  # the case: right in training AND eval
    ("math", "<think>six times seven</think>\n\n**42**", False, 1.0),
    ("math", "<think>maybe \\boxed{41}</think> so \\boxed{42}", False, 1.0),
    ("math", "<think>it is \\boxed{42}</think> I am not sure.", False, 0.0),  # a box in the reasoning only
    ("math", "<think>r</think> <answer>42</answer>", False, 1.0),
    ("math", "<think>r</think> <answer>41</answer> then <answer>42</answer>", False, 1.0),  # the last block
    ("math", "<think>r</think> <answer>42", False, 0.0),  # the answer was cut off
    ("math", "<think>r</think> \\boxed{41}", False, 0.0),
    ("math", "<think>so \\boxed{42}", False, 0.0),  # opened in the completion, never closed
    ("math", "so \\boxed{42}", True, 0.0),  # opened by the prompt (R1 chat), never closed
    ("math", "so \\boxed{42}", False, 1.0),  # no reasoning block: the whole text is final
    ("math", "r</think> 42", True, 1.0),
    ("math", "Thinking done. The final answer is 42", False, 1.0),  # free text, no tags
    ("math", "<think>r</think> 42<|endoftext|> \\boxed{43}", False, 1.0),  # nothing after eos counts
    ("math_bad_gold", "<think>r</think> 42", False, None),  # an unparsable gold: skipped
    ("math_bad_gold", "<think>no end", False, None),
    ("arithmetic", "<think>r</think> 80,235", False, 1.0),
    ("arithmetic", "<think>r</think> <answer>80235</answer>", False, 1.0),
    ("arithmetic", "<think>r</think> \\boxed{80235}", False, 1.0),
    ("arithmetic", "the answer is 80235", False, 0.0),  # no reasoning block and no explicit answer
    ("arithmetic", "<answer>80235</answer>", True, 0.0),  # still reasoning
    ("countdown", "<think>r</think> <answer>(44 + 19) - 35</answer>", False, 1.0),
    ("countdown", "<think>r</think> 44 + 19 - 35 = 28", False, 1.0),
    ("countdown", "<think>r</think> <answer>44 + 19</answer>", False, 0.0),
    ("choice", "<think>Answer: A</think> Answer: C", False, 1.0),
    ("choice", "<think>Answer: C</think> I am not sure.", False, 0.0),  # a choice in the reasoning only
    ("choice", "Answer: C", True, 0.0),  # still reasoning
    ("choice", "Answer: C", False, 1.0),
    ("choice", "<think>r</think> \\boxed{C}", False, 1.0),
    ("choice", "<think>r</think> The answer is (E).", False, 0.0),  # E is not offered (four choices)
    ("choice", "<think>r</think> Answer: C. (Answer: E is no option.)", False, 1.0),  # so the last offered one counts
]


@pytest.mark.parametrize("problem,completion,think_open,expected", TABLE)
def test_reward_and_eval_score_the_same(verifier_pool, problem, completion, think_open, expected):
    task, ex = EXAMPLES[problem]
    (verdict,) = score(task, [completion], [ex], think_open=think_open)
    ctx = RewardContext(task=task, think_open=think_open)
    _, parts = compute_rewards([completion], [ex], task, {"accuracy": 1.0}, contexts=[ctx])
    assert (verdict.score, parts["accuracy"][0]) == (expected, expected)
    if task.scorer == "choice":  # the multiple-choice reward reads the same letter
        assert compute_rewards([completion], [ex], task, {"choice": 1.0}, contexts=[ctx])[1]["choice"] == [expected]


def test_table_is_scored_the_same_in_one_batch(verifier_pool):
    """A batch mixes nothing up: each problem's rows scored together equal the rows one by one."""
    for problem in EXAMPLES:
        rows = [r for r in TABLE if r[0] == problem and not r[2]]
        task, ex = EXAMPLES[problem]
        verdicts = score(task, [r[1] for r in rows], [ex] * len(rows))
        assert [v.score for v in verdicts] == [r[3] for r in rows]


def test_verdicts_carry_the_extracted_answer(verifier_pool):
    math, ex = EXAMPLES["math"]
    texts = ["<think>r</think> \\boxed{42}", "<think>still", "<think>r</think> <answer> 41 </answer>"]
    assert score(math, texts, [ex] * 3) == [Verdict("42", 1.0), Verdict(None, 0.0), Verdict("41", 0.0)]
    choice, ex = EXAMPLES["choice"]
    assert score(choice, ["<think>r</think> Answer: b"], [ex]) == [Verdict(None, 0.0)]  # lower-case: no choice
    assert score(choice, ["<think>r</think> Answer: B"], [ex]) == [Verdict("B", 0.0)]


def test_every_task_scorer_has_a_check():
    from r1kit.data.base import SCORERS as TASK_SCORERS
    from r1kit.data.tasks import TASKS
    from r1kit.verify import SCORERS

    assert set(SCORERS) == set(TASK_SCORERS) and {cls.scorer for cls in TASKS.values()} <= set(SCORERS)


def test_score_never_raises():
    math, ex = EXAMPLES["math"]
    assert score(math, ["a", "b"], [ex]) == [Verdict(None, 0.0)] * 2  # mismatched lengths: logged, all wrong
    assert score(object(), ["a"], [ex]) == [Verdict(None, 0.0)]  # not a task
    assert score(math, [None, 5], [ex, ex]) == [Verdict(None, 0.0)] * 2


def test_equivalent_per_scorer(verifier_pool):
    assert equivalent("math", [("\\frac12", "0.5"), ("1,000", "1000"), ("2", "3")]) == [True, True, False]
    assert equivalent("choice", [("C", "c"), ("A", "B")]) == [True, False]
    assert equivalent("arithmetic", [("80,235", "80235"), ("1", "2")]) == [True, False]
    assert equivalent("countdown", [("44 + 19 - 35", "44 +  19 - 35"), ("1+2", "2+1")]) == [True, False]
    assert equivalent("code", [("x = 1\n", "x = 1"), ("x=1", "x = 1")]) == [True, False]
    assert equivalent("math", []) == [] and equivalent("choice", [(None, "A")]) == [False]
    math, ex = EXAMPLES["math"]
    free, boxed = score(math, ["<think>r</think> so it is 42 apples", "<think>r</think> \\boxed{42}"], [ex] * 2)
    assert free.answer != boxed.answer and equivalent("math", [(free.answer, boxed.answer)]) == [True]


ADD_ROW = {"task_id": "add", "prompt": "Write add(a, b).", "tests": "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"}


@pytest.mark.parametrize("completion,think_open,expected", [
    ("<think>r</think>```python\ndef add(a, b):\n    return a + b\n```", False, 1.0),
    ("<think>r</think>```python\ndef add(a, b):\n    return 3\n```", False, 0.0),  # half the tests: wrong
    ("```python\ndef add(a, b):\n    return a + b\n```", True, 0.0),  # still reasoning
    ("<think>```python\ndef add(a, b):\n    return a + b\n```</think> done", False, 0.0),  # code in the reasoning
])
def test_code_reward_all_mode_and_eval_agree(sandbox_ok, completion, think_open, expected):
    task = JsonlCodeTask(rows=[ADD_ROW], test_fraction=1.0, timeout=5.0)
    (ex,) = task.examples("test")
    ctx = RewardContext(task=task, think_open=think_open)
    (verdict,) = score(task, [completion], [ex], think_open=think_open)
    _, parts = compute_rewards([completion], [ex], task, {"accuracy": 1.0, "code": 1.0},
                               contexts=[ctx], options={"code": {"mode": "all"}})
    assert (verdict.score, parts["accuracy"][0], parts["code"][0]) == (expected, expected, expected)
