import pytest

from r1kit.eval.metrics import summarize
from r1kit.eval.report import BENCHMARK_NAMES, display_name, load_reference, markdown_table

DISTILLED = ["DeepSeek-R1-Distill-Qwen-1.5B", "DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill-Qwen-14B",
             "DeepSeek-R1-Distill-Qwen-32B", "DeepSeek-R1-Distill-Llama-8B", "DeepSeek-R1-Distill-Llama-70B"]


def summary(pass1: tuple[float, float], cons: tuple[float, float] | None = None, k: int = 8) -> dict:
    """The fields of a summarize() output that the table reads."""
    def stat(mean, stderr):
        return {"mean": mean, "stderr": stderr, "n": 30}
    return {"samples_per_problem": {"min": k, "max": k}, "pass@1": stat(*pass1),
            "cons@k": None if cons is None else stat(*cons)}


def rows():
    return [
        {"model": "r1kit-1.5B", "benchmark": "aime24", "summary": summary((0.289, 0.012), (0.5, 0.1), k=8)},
        {"model": "r1kit-1.5B", "benchmark": "math500", "summary": summary((0.839, 0.005), k=4)},
        {"model": "base", "benchmark": "aime24", "summary": summary((0.1, 0.02))},
    ]


TABLE = """\
| Model | AIME 2024 pass@1 | AIME 2024 cons@8 | MATH-500 pass@1 |
|---|---:|---:|---:|
| r1kit-1.5B | 28.9 ± 1.2 | 50.0 ± 10.0 | 83.9 ± 0.5 |
| base | 10.0 ± 2.0 | — | — |
"""


def test_markdown_table_exact():
    assert markdown_table(rows()) == TABLE


def test_reference_rows_selected_by_name():
    # the report's cons@64 does not fill a cons@8 column
    expected = TABLE + """\
| *reported, arXiv 2501.12948* |  |  |  |
| DeepSeek-R1-Distill-Qwen-1.5B | 28.9 | — | 83.9 |
| DeepSeek-R1 | 79.8 | — | 97.3 |
"""
    assert markdown_table(rows(), reference=["DeepSeek-R1-Distill-Qwen-1.5B", "DeepSeek-R1"]) == expected


def test_reference_all_and_absent():
    table = markdown_table(rows(), reference=True)
    assert all(f"| {name} |" in table for name in DISTILLED + ["DeepSeek-R1"])
    assert "reported" in table
    for off in (False, []):
        assert markdown_table(rows(), reference=off) == TABLE
    with pytest.raises(ValueError):
        markdown_table(rows(), reference=["GPT-5"])


def test_reference_fills_matching_cons_column():
    r = [{"model": "mine", "benchmark": "aime24", "summary": summary((0.3, 0.01), (0.55, 0.05), k=64)}]
    assert markdown_table(r, reference=["DeepSeek-R1-Distill-Llama-70B"]) == """\
| Model | AIME 2024 pass@1 | AIME 2024 cons@64 |
|---|---:|---:|
| mine | 30.0 ± 1.0 | 55.0 ± 5.0 |
| *reported, arXiv 2501.12948* |  |  |
| DeepSeek-R1-Distill-Llama-70B | 70.0 | 86.7 |
"""


def test_unknown_benchmark_keeps_its_name():
    r = [{"model": "m", "benchmark": "countdown", "summary": summary((0.25, 0.0))}]
    table = markdown_table(r, reference=["DeepSeek-R1-Distill-Qwen-7B"])
    assert table.splitlines()[0] == "| Model | countdown pass@1 |"
    assert table.splitlines()[-1] == "| DeepSeek-R1-Distill-Qwen-7B | — |"


def test_display_names():
    assert [display_name(b) for b in BENCHMARK_NAMES] == [
        "AIME 2024", "AIME 2025", "AMC 2023", "MATH-500", "GSM8K", "GPQA Diamond", "HumanEval", "MBPP"]
    assert display_name("livecodebench") == "livecodebench"


def test_table_from_summarize_output():
    per_problem = [{"correct": [True, False], "answers": ["1", "2"], "tokens": [3, 4],
                    "finish": ["stop", "stop"], "cons": 1.0},
                   {"correct": [False, False], "answers": ["5", None], "tokens": [3, 4],
                    "finish": ["stop", "length"], "cons": 0.0}]
    # pass@1 per problem .5, 0 -> 25.0 ± 25.0; cons 1, 0 -> 50.0 ± 50.0
    table = markdown_table([{"model": "m", "benchmark": "gsm8k", "summary": summarize(per_problem)}])
    assert table.splitlines()[0] == "| Model | GSM8K pass@1 | GSM8K cons@2 |"
    assert table.splitlines()[2] == "| m | 25.0 ± 25.0 | 50.0 ± 50.0 |"


def test_bad_rows():
    with pytest.raises(ValueError):
        markdown_table([])
    with pytest.raises(ValueError):
        markdown_table(rows() + [rows()[0]])


def test_reference_json_has_table5():
    ref = load_reference()
    assert "2501.12948" in ref["source"] and "Table 5" in ref["source"]
    models = ref["models"]
    assert set(DISTILLED) <= set(models)
    for name in DISTILLED:
        m = models[name]
        assert set(m["aime24"]) == {"pass@1", "cons@64"}
        assert all(set(m[b]) == {"pass@1"} for b in ("math500", "gpqa_diamond", "livecodebench"))
        assert isinstance(m["codeforces_rating"], int)
    # spot checks against the report (Table 5 row, Table 4 column)
    assert models["DeepSeek-R1-Distill-Qwen-32B"]["aime24"] == {"pass@1": 72.6, "cons@64": 83.3}
    assert models["DeepSeek-R1-Distill-Qwen-1.5B"]["codeforces_rating"] == 954
    assert models["DeepSeek-R1"]["math500"]["pass@1"] == 97.3


def test_reference_block_left_out_when_the_report_has_no_such_benchmark():
    from r1kit.eval.metrics import summarize

    summary = summarize([{"correct": [True, False], "answers": ["1", "2"], "tokens": [3, 4], "finish": ["stop"] * 2,
                          "cons": 1.0}])
    table = markdown_table([{"model": "m", "benchmark": "gsm8k", "summary": summary}], reference=True)
    assert "reported" not in table and table.count("\n") == 3
