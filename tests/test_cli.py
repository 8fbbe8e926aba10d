"""The command line: bad input is one line `error: ...`, exit code 2, no traceback, nothing written."""

import json

import pytest

from r1kit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def recipe(tmp_path, **sections) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(sections))  # JSON is YAML
    return str(path)


def test_missing_model_path(capsys, tmp_path):
    cfg = recipe(tmp_path, model={"name_or_path": str(tmp_path / "missing")}, out_dir=str(tmp_path / "run"))
    code, _, err = run(capsys, "train", "grpo", "--config", cfg)
    assert code == 2 and "model path not found" in one_line_error(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("--grpo.nope=1", "unknown config key"),
    ("--optim.lr=fast", "must be float"),
    ("--rollout.group_size=1", "group_size must be >= 2"),
    ("--rewards={accuracy: 1.0, acuracy: 1.0}", "unknown reward(s) acuracy"),
    ("--reward_options={overlong: {max_length: 9}}", "unknown option(s) max_length for reward 'overlong'"),
])
def test_bad_overrides(capsys, tmp_path, override, message):
    cfg = recipe(tmp_path, out_dir=str(tmp_path / "run"))
    code, _, err = run(capsys, "train", "grpo", "--config", cfg, override)
    assert code == 2 and message in one_line_error(err)
    assert not (tmp_path / "run").exists()


def test_code_reward_options_checked_before_the_run(capsys, tmp_path):
    cfg = recipe(tmp_path, out_dir=str(tmp_path / "run"), rewards={"code": 1.0},
                 reward_options={"code": {"mode": "most"}})
    code, _, err = run(capsys, "train", "grpo", "--config", cfg)
    assert code == 2 and "code reward mode must be 'fraction' or 'all'" in one_line_error(err)
    assert not (tmp_path / "run").exists()


def test_sandbox_check(capsys):
    from r1kit.sandbox import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as e:
        pytest.skip(f"sandbox unavailable: {e}")
    code, out, _ = run(capsys, "sandbox", "check")
    assert code == 0 and out.startswith("sandbox OK")
    code, _, err = run(capsys, "sandbox", "check", "--python", "/nonexistent/python")
    assert code == 2 and "interpreter /nonexistent/python is not usable" in one_line_error(err)


def test_dataset_row_without_answer(capsys, tmp_path, tiny_model_dir):
    data = tmp_path / "d.jsonl"
    data.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "2+2?"}\n')
    cfg = recipe(tmp_path, model={"name_or_path": str(tiny_model_dir)}, out_dir=str(tmp_path / "run"),
                 data={"task": "jsonl", "task_args": {"path": str(data)}})
    code, _, err = run(capsys, "train", "grpo", "--config", cfg)
    line = one_line_error(err)
    assert code == 2 and "row 2" in line and "answer" in line
    assert not (tmp_path / "run").exists()


def test_unknown_arch(capsys, tmp_path):
    code, _, err = run(capsys, "model", "new", "--arch", "gpt5", "--out", str(tmp_path / "m"))
    assert code == 2 and "unknown model arch" in one_line_error(err)


def test_demo_rejects_unknown_option(capsys):
    code, _, err = run(capsys, "demo", "--stepz=3")
    assert code == 2 and "unknown config key 'stepz'" in one_line_error(err)


def test_eval_cli(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "ev"
    code, stdout, _ = run(capsys, "eval", "--model", str(tiny_model_dir), "--benchmark", "arithmetic", "--samples",
                          "2", "--limit", "3", "--out", str(out), "--no-progress", "--template=r1_zero",
                          "--max_new_tokens=8")
    assert code == 0 and "arithmetic: pass@1 0.0" in stdout and "(3 problems x 2 samples)" in stdout
    assert (out / "table.md").exists() and (out / "arithmetic" / "samples.jsonl").exists()


@pytest.mark.parametrize("argv, message", [
    (["--benchmark", "aime2024"], "unknown benchmark 'aime2024'"),
    (["--benchmark", "aime24", "--data", "missing.jsonl"], "benchmark file not found: missing.jsonl"),
    (["--benchmark", "arithmetic", "--temperature=3"], "temperature must be in [0, 2]"),
    (["--benchmark", "arithmetic", "--nope=1"], "unknown config key"),
    (["--benchmark", "aime24,math500", "--data", "x.jsonl"], "--data names the file of one benchmark"),
])
def test_eval_cli_bad_input(capsys, tmp_path, tiny_model_dir, argv, message):
    code, _, err = run(capsys, "eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "ev"), *argv)
    assert code == 2 and message in one_line_error(err)
    assert not (tmp_path / "ev").exists()


def test_eval_missing_model_writes_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "eval", "--model", str(tmp_path / "nope"), "--benchmark", "arithmetic",
                       "--out", str(tmp_path / "ev"))
    assert code == 2 and "model path not found" in one_line_error(err)
    assert not (tmp_path / "ev").exists()
