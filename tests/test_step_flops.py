"""benchmarks/step_flops.py on a hidden-64, 2-layer Qwen2: the counted FLOPs of a GRPO step's reference forward
and update against a hand count from the model's shape and the batch's token counts, the matmul peak, and the
script's whole path (one timed step, small matrices)."""

import pytest

from tests.conftest import load_benchmark

H, LAYERS, HEADS, KV, D, INTER, VOCAB = 64, 2, 1, 1, 64, 256, 512  # rollout_vs_generate.build(64, 2)
TINY = dict(prompts=2, group_size=2, new_tokens=4, micro_batch=1)  # one row per forward: no shared-prefix pass
TOL = 1e-3  # relative; exact on torch 2.13, room for small matmuls the hand count leaves out (rotary angles)


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("step_flops")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return load_benchmark("grpo_vs_trl").build_model_dir(H, LAYERS, tmp_path_factory.mktemp("flops") / "model")


def hand_count(prompt_lens: list[int], group_size: int, new_tokens: int) -> tuple[int, int]:
    """(reference forward, update) matmul FLOPs of one step, micro-batches of one row.

    A row is packed prompt-first and right-padded to L = Lp + Lc tokens, all of which run through every layer:
      linears  2 L N,  N = layers x (q H.nh.D + k, v 2 H.nkv.D + o nh.D.H + MLP 3 H.I)
      lm_head  2 K V H,  K = L - plen + 1 logit positions kept (from the last prompt token on)
      SDPA     2 bmm of (L x D) @ (D x L) per head and layer, full L x L (the counter ignores causality):
               4 L^2 D nh per layer forward; backward recomputes QK^T and runs 4 more: 10 L^2 D nh
    Update = forward + backward = 3 x the linear and lm_head FLOPs + 14 L^2 D nh per layer."""
    N = LAYERS * (H * HEADS * D + 2 * H * KV * D + HEADS * D * H + 3 * H * INTER)
    Lp, Lc = max(prompt_lens), new_tokens
    L = Lp + Lc
    ref = update = 0
    for plen in prompt_lens:
        linear = 2 * L * N + 2 * (L - plen + 1) * VOCAB * H
        attn = L * L * D * HEADS * LAYERS
        ref += group_size * (linear + 4 * attn)
        update += group_size * (3 * linear + 14 * attn)
    return ref, update


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_counted_flops_equal_the_hand_count(bench, model_dir, tmp_path, one_thread, precision):
    """P = 2 prompts x G = 2, 4 new tokens, micro-batches of 1: the counted step's reference forward and update
    FLOPs equal the hand count within TOL; the rollout's counted FLOPs (less attention) equal 2 N tokens. bf16
    (mixed precision): the same counts through the lean forward and the bf16 decoder (oneDNN's packed linear
    on CPU, which torch's counter does not list)."""
    from r1kit.models import load_tokenizer

    gvt = load_benchmark("grpo_vs_trl")
    s = {**gvt.SETTINGS, **TINY}
    res = bench.run_steps(s, model_dir, tmp_path / "run", precision, steps=1, threads=1)
    prompts, _ = gvt.shared_prompts(model_dir, s)
    prompt_lens = [len(ids) for ids in load_tokenizer(str(model_dir))(prompts, add_special_tokens=False)["input_ids"]]
    assert res["rollout_shape"] == (2, max(prompt_lens), 4, 4)
    ref, update = hand_count(prompt_lens, s["group_size"], s["new_tokens"])
    counted = {p: sum(res["flops"][p].values()) for p in bench.PHASES}
    assert counted["ref_old_logp"] == pytest.approx(ref, rel=TOL)
    assert counted["update"] == pytest.approx(update, rel=TOL)
    assert bench.attention(res["flops"]["update"]) == pytest.approx(
        14 * D * HEADS * LAYERS * s["group_size"] * len(prompt_lens) * (max(prompt_lens) + 4) ** 2, rel=1e-9)
    assert counted["other"] == 0  # rewards and advantages: no matmuls
    ana = bench.analytic(res)  # the script's own cross-check, exact here (no shared-prefix pass)
    for p in ("rollout", "ref_old_logp", "update"):
        if ana[p] is None:  # the lean forward runs no modules for the script's hooks to count tokens in
            assert precision == "bf16" and p != "rollout"
            continue
        assert counted[p] - bench.attention(res["flops"][p]) == pytest.approx(ana[p], rel=TOL)
    assert len(res["times"]) == 1 and all(res["times"][0][p] > 0 for p in ("rollout", "ref_old_logp", "update"))
    assert res["times"][0]["step"] == pytest.approx(sum(res["times"][0][p] for p in bench.PHASES))


def test_matmul_peak_is_positive(bench, one_thread):
    """2 n^3 FLOP per mm over measured seconds: positive and finite in both dtypes."""
    peaks = bench.matmul_peak(["float32", "bfloat16"], [64, 128], repeats=1)
    assert set(peaks) == {"float32", "bfloat16"}
    assert all(0 < v < 1e6 for row in peaks.values() for v in row.values())


def test_main_runs_end_to_end(bench, capsys, one_thread):
    """The script's path on the toy shape: peak table, phase table, cross-check and the target verdicts."""
    pct = bench.main(["--shape", f"{H},{LAYERS}", "--sizes", "64", "--steps", "1", "--threads", "1",
                      "--precision", "fp32", "--repeats", "1"])
    out = capsys.readouterr().out
    assert set(pct) == {"fp32"} and all(pct["fp32"][p] > 0 for p in ("rollout", "ref_old_logp", "update", "step"))
    for text in ("matmul peak", "float32", "rollout ", "ref_old_logp", "update ", "step ", "2*N*tok GFLOP",
                 "target >= 50% of peak: the update phase", "target >= 50% of peak: the whole step"):
        assert text in out, text


def test_bad_shape_exits_2(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--shape", "64", "--steps", "1"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("error: bad --shape '64'")
