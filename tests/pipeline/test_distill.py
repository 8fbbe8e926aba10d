"""`r1kit distill`: teacher traces -> filter -> SFT of the student as one resumable command; bad input."""

import json

import pytest

from r1kit.cli import main
from r1kit.config import from_dict
from r1kit.errors import R1kitError
from r1kit.pipeline.distill import DistillConfig, distill_stages


def config(tmp_path, teacher, student, **kw) -> str:
    cfg = {"teacher": str(teacher), "student": str(student), "out": str(tmp_path / "run"),
           "generate": {"task": "arithmetic", "task_args": {"digits": 2}, "template": "r1_zero", "limit": 3,
                        "samples": 2, "max_new_tokens": 12, "device": "cpu",
                        "filters": {"correct": False, "truncated": False, "min_language_share": 0.0}},
           "sft": {"model": {"device": "cpu"}, "data": {"batch_size": 2, "max_length": 128}, "steps": 2, "threads": 1},
           **kw}
    path = tmp_path / "distill.yaml"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_distill_runs_generate_then_sft_and_resumes_nothing_twice(tiny_model_dir, tmp_path, capsys, one_thread):
    path = config(tmp_path, tiny_model_dir, tiny_model_dir)
    assert main(["distill", "--config", path, "--no-progress"]) == 0
    out = capsys.readouterr().out
    student = tmp_path / "run" / "02-student" / "checkpoints" / "step-000002"
    assert f"student: {student}" in out and (student / "config.json").is_file()
    sft = json.loads((tmp_path / "run" / "02-student" / "stage.json").read_text())
    assert sft["config"]["data"]["path"] == str(tmp_path / "run" / "01-traces" / "filtered.jsonl")
    assert sft["config"]["model"]["name_or_path"] == str(tiny_model_dir)
    assert main(["distill", "--config", path, "--no-progress"]) == 0
    assert capsys.readouterr().out.count("done earlier with the same inputs: skipped") == 2


def test_onpolicy_method_is_one_onpolicy_stage(tiny_model_dir):
    stages = distill_stages(DistillConfig(teacher="t", student="s", method="onpolicy", onpolicy={"steps": 3}))
    assert list(stages) == ["student"] and stages["student"]["kind"] == "onpolicy"
    assert stages["student"]["teacher"] == {"name_or_path": "t"} and stages["student"]["model"] == {"name_or_path": "s"}


@pytest.mark.parametrize("data, message", [
    ({"teacher": "", "student": "s"}, "--teacher and --student are required"),
    ({"teacher": "t", "student": "s", "method": "rl"}, "method must be sft or onpolicy"),
    ({"teacher": "t", "student": "s", "method": "onpolicy", "base_url": "http://x/v1"}, "local teacher checkpoint"),
])
def test_bad_distill_settings(data, message):
    with pytest.raises(R1kitError, match=message):
        from_dict(DistillConfig, data)


def test_missing_teacher_is_one_line_naming_the_stage(tmp_path, tiny_model_dir, capsys):
    path = config(tmp_path, tmp_path / "no-teacher", tiny_model_dir)
    assert main(["distill", "--config", path, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stage 'traces' (generate)" in err and "no-teacher" in err
