"""`r1kit train sft` end to end on a tiny model: the loss falls, the checkpoint loads with transformers and
serves its chat template; resume == uninterrupted; bad input is one line, exit 2, nothing written."""

import json

import pytest
import torch

from r1kit.cli import main
from r1kit.config import load_config
from r1kit.errors import R1kitError
from r1kit.train import sft_run
from r1kit.train.sft_config import SFTRunConfig


def chat_rows(n=12):
    rows = []
    for i in range(n):
        a, b = 2 + i % 7, 1 + i % 5
        rows.append({"messages": [{"role": "user", "content": f"What is {a}+{b}?"},
                                  {"role": "assistant", "content": f"<think>\n{a}+{b}={a + b}\n</think>\n\n{a + b}"}]})
    return rows


@pytest.fixture
def chat_file(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chat_rows()))
    return path


def recipe(tmp_path, model_dir, data, out, **extra):
    cfg = {"model": {"name_or_path": str(model_dir), "device": "cpu"},
           "data": {"path": str(data), "batch_size": 4, "max_length": 64, "packing": True},
           "optim": {"lr": 3e-3, "warmup_steps": 2, "schedule": "cosine", "micro_batch_size": 1},
           "steps": 25, "save_every": 10, "out_dir": str(out), "threads": 1, **extra}
    path = tmp_path / "sft.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return str(path)


def test_cli_sft_end_to_end(tiny_model_dir, chat_file, tmp_path, capsys, one_thread):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1kit.data.templates import render_chat
    from r1kit.models.tokenizer import CHAT_TEMPLATE

    out = tmp_path / "run"
    assert main(["train", "sft", "--config", recipe(tmp_path, tiny_model_dir, chat_file, out), "--no-progress"]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 26))
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    from r1kit.train.optim import lr_multiplier

    for i, r in enumerate(rows):  # one scheduler step per optimizer step, whatever the micro-batches
        want = 3e-3 * lr_multiplier(i, total_steps=25, warmup_steps=2, schedule="cosine", min_ratio=0.1)
        assert r["lr"] == pytest.approx(want, rel=1e-9)
    assert last < 0.6 * first, (first, last)
    assert (out / "plot.png").stat().st_size > 0 and any((out / "tb").iterdir()) and (out / "config.yaml").is_file()
    ckpt = out / "checkpoints" / "step-000025"
    assert (out / "checkpoints" / "latest").read_text() == ckpt.name
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    tok = AutoTokenizer.from_pretrained(ckpt)
    assert tok.chat_template == CHAT_TEMPLATE  # trained in its own chat template, served in it
    prompt = render_chat([{"role": "user", "content": "What is 4+3?"}], tok)
    assert prompt == "<|User|>What is 4+3?<|Assistant|><think>\n"
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids).logits).all()


class Killed(Exception):
    pass


def small_config(model_dir, data, out, **extra) -> SFTRunConfig:
    overrides = {"model.name_or_path": str(model_dir), "model.device": "cpu", "data.path": str(data),
                 "data.batch_size": 5, "data.max_length": 48, "optim.micro_batch_size": 2, "optim.lr": 1e-3,
                 "optim.warmup_steps": 1, "steps": 4, "save_every": 2, "out_dir": str(out), **extra}
    return load_config(SFTRunConfig, None, [f"--{k}={v}" for k, v in overrides.items()])


def weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


@pytest.fixture(scope="module")
def dropout_model_dir(tmp_path_factory):
    """A tiny qwen2 with attention dropout: resuming must restore the RNG for the steps to match."""
    from r1kit.models import new_model

    out = tmp_path_factory.mktemp("tiny-dropout") / "qwen2"
    return new_model("qwen2", "tiny", out, seed=0, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                     attention_dropout=0.1)


@pytest.mark.parametrize("packing", [True, False])
def test_resume_equals_uninterrupted(dropout_model_dir, chat_file, tmp_path, monkeypatch, one_thread, packing):
    full = small_config(dropout_model_dir, chat_file, tmp_path / "full", **{"data.packing": packing})
    sft_run.train_sft(full, progress=False)
    real_step, calls = sft_run.sft_step, {"n": 0}

    def dies_on_third(run):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real_step(run)

    part = small_config(dropout_model_dir, chat_file, tmp_path / "part", **{"data.packing": packing})
    monkeypatch.setattr(sft_run, "sft_step", dies_on_third)
    with pytest.raises(Killed):
        sft_run.train_sft(part, progress=False)
    monkeypatch.setattr(sft_run, "sft_step", real_step)
    assert (tmp_path / "part" / "checkpoints" / "latest").read_text() == "step-000002"
    with pytest.raises(R1kitError, match="already holds a run"):
        sft_run.train_sft(part, progress=False)
    sft_run.train_sft(part, resume=True, progress=False)
    a, b = weights(tmp_path / "full/checkpoints/step-000004"), weights(tmp_path / "part/checkpoints/step-000004")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[json.loads(x)["loss"] for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("full", "part")]
    assert len(losses[1]) == 4 and losses[0] == losses[1]


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("content, message", [
    (None, "data file not found"),
    ("", "empty file"),
    ('{"messages": [{"role": "user", "content": "What is 2+3?"}]}\n', "row 1 has no assistant turn"),
])
def test_bad_data_is_one_line_exit_2_nothing_written(tiny_model_dir, tmp_path, capsys, content, message):
    data, out = tmp_path / "bad.jsonl", tmp_path / "run"
    if content is not None:
        data.write_text(content)
    code = main(["train", "sft", "--config", recipe(tmp_path, tiny_model_dir, data, out), "--no-progress"])
    line = one_line_error(capsys.readouterr().err)
    assert code == 2 and line.startswith("error: sft: ") and str(data) in line and message in line
    assert not out.exists()


@pytest.mark.parametrize("override, message", [
    ("--data.pth=x.jsonl", "unknown config key 'data.pth'"),
    ("--batch_size=4", "unknown config key 'batch_size'"),
    ("--data.packing=maybe", "must be bool"),
    ("--data.batch_size=0", "data.batch_size must be >= 1"),
    ("--optim.schedule=step", "optim.schedule must be constant, linear or cosine"),
])
def test_bad_config_is_one_line_exit_2(tiny_model_dir, chat_file, tmp_path, capsys, override, message):
    out = tmp_path / "run"
    code = main(["train", "sft", "--config", recipe(tmp_path, tiny_model_dir, chat_file, out), override])
    assert code == 2 and message in one_line_error(capsys.readouterr().err) and not out.exists()


def test_examples_longer_than_max_length_are_dropped_and_counted(tiny_model_dir, chat_file, tmp_path):
    from r1kit.models import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    cfg = small_config(tiny_model_dir, chat_file, tmp_path / "run", **{"data.max_length": 22})
    kept, dropped = sft_run.tokenize_data(cfg, tok)
    assert kept and dropped and len(kept) + dropped == 12 and all(len(ex.ids) <= 22 for ex in kept)
    with pytest.raises(R1kitError, match=r"^sft: .*every example is longer than data.max_length=4"):
        sft_run.tokenize_data(small_config(tiny_model_dir, chat_file, tmp_path / "run", **{"data.max_length": 4}), tok)


def test_generation_stops_where_trained_turns_end(tiny_model_dir, tmp_path):
    """A template whose turns end in a special token other than eos: the checkpoint's generation_config
    lists that token as an eos id, so the engine, serve and vLLM stop there."""
    from r1kit.models import load_model, load_tokenizer
    from r1kit.rollout.stopping import eos_token_ids
    from r1kit.train.sft_data import encode_conversation

    tok, model = load_tokenizer(str(tiny_model_dir)), load_model(str(tiny_model_dir))
    tok.chat_template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '</answer>\\n' }}{% endfor %}"
                         "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    examples = encode_conversation(chat_rows(1)[0]["messages"], tok)
    end = tok.convert_tokens_to_ids("</answer>")
    assert end not in eos_token_ids(model, tok)
    assert sft_run.stop_at_turn_end(model, tok, examples) == [end]
    assert end in eos_token_ids(model, tok) and tok.eos_token_id in eos_token_ids(model, tok)
    assert sft_run.stop_at_turn_end(model, tok, examples) == []  # already there: nothing added twice
    from transformers import GenerationConfig

    from r1kit.models import save_model

    save_model(model, tok, tmp_path / "ckpt", template="chat")
    assert end in GenerationConfig.from_pretrained(tmp_path / "ckpt").eos_token_id


def test_epochs_set_the_step_count_from_the_data(tiny_model_dir, chat_file, tmp_path, one_thread):
    """12 examples, batch 4, 2 epochs: ceil(2 * 12 / 4) = 6 steps, whatever `steps` says; recorded in config.yaml."""
    import yaml

    out = tmp_path / "run"
    cfg = load_config(SFTRunConfig, recipe(tmp_path, tiny_model_dir, chat_file, out, epochs=2.0, save_every=0))
    metrics = sft_run.train_sft(cfg, progress=False)
    assert metrics["checkpoint"].endswith("step-000006")
    assert yaml.safe_load((out / "config.yaml").read_text())["steps"] == 6
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == pytest.approx(2.0)


def test_mixed_precision_sft_learns_with_float32_masters(tiny_model_dir, chat_file, tmp_path, one_thread, monkeypatch):
    """parallel.mixed_precision=bf16 in one process: the forwards run under bf16 autocast, the loss falls as in
    fp32, and the checkpoint holds float32 weights."""
    seen = []
    real = sft_run.accumulate_grad
    monkeypatch.setattr(sft_run, "accumulate_grad", lambda *a: seen.append(a[-1]) or real(*a))
    out = tmp_path / "run"
    assert main(["train", "sft", "--config", recipe(tmp_path, tiny_model_dir, chat_file, out), "--no-progress",
                 "--parallel.mixed_precision=bf16", "--steps=15"]) == 0
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["loss"] for r in rows[-3:]) / 3 < 0.7 * rows[0]["loss"]
    assert all(t.dtype == torch.float32 for t in weights(out / "checkpoints" / "step-000015").values())
