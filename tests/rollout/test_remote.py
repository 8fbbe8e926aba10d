"""ServerEngine against a real `r1kit serve` app (the continuous batcher over the tiny qwen2, in-process): a rollout
has RolloutEngine's layout and the teacher-forced logprobs; a dead port, a wrong model and a refused reload are
one-line R1kitErrors; update_weights moves /get_model_info's weight_version and changes the samples."""

import contextlib
import socket

import httpx
import pytest
import torch

from r1kit.errors import R1kitError
from r1kit.rollout import RolloutEngine, SamplingParams
from tests.serve.conftest import LiveServer

PROMPTS = ["What is 2 + 3?", "Once upon a time there was"]


@contextlib.contextmanager
def served_tiny(model_dir, name: str = "tiny"):
    """`r1kit serve`'s app over a real Batcher of `model_dir`, on a free port: yields (url, batcher, server);
    server.__exit__(None, None, None) stops it early (a dead server)."""
    from r1kit.models import load_model, load_tokenizer
    from r1kit.serve.app import create_app
    from r1kit.serve.batcher import Batcher

    tokenizer = load_tokenizer(model_dir)
    batcher = Batcher(load_model(model_dir), tokenizer, model_path=str(model_dir), max_batch=16, max_queue=64)
    batcher.start()
    try:
        with LiveServer(create_app(batcher, tokenizer, model_name=name)) as server:
            yield server.url, batcher, server
    finally:
        batcher.close()


def dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with served_tiny(tiny_model_dir) as (url, batcher, _):
        yield url, batcher
    torch.set_num_threads(before)


@pytest.fixture
def engine(server, tiny_model_dir):
    from r1kit.models import load_tokenizer
    from r1kit.rollout.remote import ServerEngine

    eng = ServerEngine(server[0], load_tokenizer(tiny_model_dir), model="tiny", timeout=60)
    eng.preflight()
    yield eng
    eng.close()


def test_rollout_layout_and_logp_match_the_engine(engine, server, tiny_model_dir):
    from r1kit.train.forward import completion_logprobs

    params = SamplingParams(max_new_tokens=12, temperature=1.0, top_p=1.0, n=3, seed=5)
    out = engine.generate(PROMPTS, params)
    model = server[1].model
    local = RolloutEngine(model, engine.tokenizer).generate(PROMPTS, params)
    B = len(PROMPTS) * params.n
    assert torch.equal(out.prompt_ids, local.prompt_ids) and torch.equal(out.prompt_mask, local.prompt_mask)
    assert out.prompt_index == local.prompt_index == [0, 0, 0, 1, 1, 1]
    lengths = out.completion_mask.sum(1)                                               # (B,)
    assert out.completion_ids.shape == out.completion_mask.shape == out.logp.shape == (B, int(lengths.max()))
    ramp = torch.arange(out.completion_mask.shape[1])
    assert torch.equal(out.completion_mask, (ramp < lengths[:, None]).long())          # right-padded, prefix ones
    assert (out.completion_ids[out.completion_mask == 0] == engine.pad_id).all()
    assert (out.logp[out.completion_mask == 0] == 0).all() and (out.logp[out.completion_mask == 1] < 0).all()
    assert out.logp.dtype == local.logp.dtype == torch.float32
    for r in range(B):
        assert (out.finish_reasons[r] == "length") == (int(lengths[r]) == params.max_new_tokens) or \
            int(out.completion_ids[r, int(lengths[r]) - 1]) in engine.eos_ids
        ids = out.completion_ids[r, : int(lengths[r])].tolist()
        text = engine.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert out.texts[r] == text.replace("<|endoftext|>", "").replace("<|pad|>", "")
    forward, _ = completion_logprobs(model, out.prompt_ids, out.prompt_mask, out.completion_ids,
                                     out.completion_mask, params.temperature)
    m = out.completion_mask.bool()
    assert (forward[m] - out.logp[m]).abs().max() < 1e-4
    again = engine.generate(PROMPTS, params)  # the same seed: the same samples
    assert torch.equal(again.completion_ids, out.completion_ids) and again.texts == out.texts


def test_token_id_prompts_and_model_card(engine, tiny_model_dir):
    ids = [engine.tokenizer.encode(p, add_special_tokens=False) for p in PROMPTS]
    a = engine.generate(ids, SamplingParams(max_new_tokens=4, n=2, seed=1))
    b = engine.generate(PROMPTS, SamplingParams(max_new_tokens=4, n=2, seed=1))
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert engine.model.name == "tiny" and engine.model.config.max_position_embeddings > 0


def test_dead_port_and_wrong_model_are_one_line_errors(server, tiny_model_dir):
    from r1kit.models import load_tokenizer
    from r1kit.rollout.remote import ServerEngine

    tok = load_tokenizer(tiny_model_dir)
    url = dead_url()
    dead = ServerEngine(url, tok, timeout=5)
    for call in (dead.preflight, lambda: dead.generate(PROMPTS, SamplingParams(max_new_tokens=2)),
                 lambda: dead.update_weights(str(tiny_model_dir))):
        with pytest.raises(R1kitError, match="unreachable") as e:
            call()
        assert url in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(R1kitError, match="serves tiny, not 'other'"):
        ServerEngine(server[0], tok, model="other").preflight()
    with pytest.raises(R1kitError, match="HTTP 400") as e:  # an HTTP error mid-run: the server's own message
        ServerEngine(server[0], tok, model="tiny").generate(PROMPTS, SamplingParams(max_new_tokens=10**6))
    assert "maximum context length" in str(e.value)


def test_answer_without_token_ids_is_refused():
    from r1kit.rollout.remote import _parse_choice

    by_text = {"logprobs": {"tokens": ["a"], "token_logprobs": [-1.0]}, "finish_reason": "stop"}
    with pytest.raises(R1kitError, match="return_tokens_as_token_ids"):
        _parse_choice(by_text, "http://x/v1/completions", 8)
    assert _parse_choice({**by_text, "token_ids": [9]}, "u", 8) == ([9], [-1.0], True)  # SGLang's token_ids
    with pytest.raises(R1kitError, match="return_token_ids"):  # ids that do not line up with the logprobs
        _parse_choice({**by_text, "token_ids": [9, 3]}, "u", 8)
    with pytest.raises(R1kitError, match="without token logprobs"):
        _parse_choice({"logprobs": None, "finish_reason": "stop"}, "http://x/v1/completions", 8)
    ok = {"logprobs": {"tokens": ["token_id:5", "token_id:0"], "token_logprobs": [-1.0, -2.0]}, "finish_reason": "length"}
    assert _parse_choice(ok, "u", 8) == ([5, 0], [-1.0, -2.0], False)


def test_update_weights_bumps_the_version_and_changes_samples(engine, server, tiny_model_dir, tmp_path):
    from r1kit.models import load_model, save_model

    url, batcher = server
    info = lambda: httpx.get(f"{url}/get_model_info", timeout=10).json()
    params = SamplingParams(max_new_tokens=8, temperature=1.0, n=2, seed=3)
    before, version = engine.generate(PROMPTS, params), info()["weight_version"]
    model = load_model(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    changed = save_model(model, engine.tokenizer, tmp_path / "changed")
    try:
        engine.update_weights(str(changed))
        assert info() == {"model_path": str(changed), "weight_version": version + 1}
        after = engine.generate(PROMPTS, params)
        assert not torch.equal(after.completion_ids, before.completion_ids) or not torch.allclose(after.logp, before.logp)
        with pytest.raises(R1kitError, match="could not load|model path not found|HTTP 400") as e:
            engine.update_weights(str(tmp_path / "missing"))
        assert url in str(e.value) and info()["weight_version"] == version + 1
    finally:
        engine.update_weights(str(tiny_model_dir))  # the module's server back on the original weights
