import math

import pytest
import torch

from r1kit.algo import importance_weights, logp_gap

pytestmark = pytest.mark.usefixtures("one_thread")


def _example():
    """2x3, last token of row 1 is padding (its sampler value is -inf garbage and must be ignored).

    token ratios pi_old / pi_sampler: row 0 = 0.6/0.4, 0.4/0.5, 0.9/0.3 = 1.5, 0.8, 3.0
                                      row 1 = 0.2/0.2, 0.6/0.48        = 1.0, 1.25
    sequence ratios: row 0 = 1.5 * 0.8 * 3.0 = 3.6, row 1 = 1.25
    """
    old = torch.tensor([[0.6, 0.4, 0.9], [0.2, 0.6, 1.0]]).log()
    sampler = torch.tensor([[0.4, 0.5, 0.3], [0.2, 0.48, 0.0]]).log()       # log 0 = -inf at the pad
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return old, sampler, mask


@pytest.mark.parametrize(
    "level, mode, expected, weight_mean, capped_frac, ratio_max",
    [
        ("token", "truncate", [[1.5, 0.8, 2.0], [1.0, 1.25, 0.0]], 6.55 / 5, 1 / 5, 3.0),
        ("token", "mask", [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], 4 / 5, 1 / 5, 3.0),
        ("sequence", "truncate", [[2.0, 2.0, 2.0], [1.25, 1.25, 0.0]], 8.5 / 5, 1 / 2, 3.6),
        ("sequence", "mask", [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]], 2 / 5, 1 / 2, 3.6),
    ],
)
def test_hand_computed(level, mode, expected, weight_mean, capped_frac, ratio_max):
    old, sampler, mask = _example()
    w, diag = importance_weights(old, sampler, mask, cap=2.0, level=level, mode=mode)
    assert w.shape == (2, 3) and w.dtype == old.dtype
    assert torch.allclose(w, torch.tensor(expected), atol=1e-5)
    assert diag["weight_mean"] == pytest.approx(weight_mean, abs=1e-5)
    assert diag["capped_frac"] == pytest.approx(capped_frac)
    assert diag["ratio_max"] == pytest.approx(ratio_max, rel=1e-5)


def test_logp_gap_hand_computed():
    old, sampler, mask = _example()
    gaps = [math.log(1.5), math.log(1 / 0.8), math.log(3.0), 0.0, math.log(1.25)]
    g = logp_gap(old, sampler, mask)
    assert g["mean_abs"] == pytest.approx(sum(gaps) / 5, abs=1e-6)
    assert g["max_abs"] == pytest.approx(math.log(3.0), abs=1e-6)


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("mode", ["truncate", "mask"])
def test_identical_logprobs_give_unit_weights(level, mode):
    logp = torch.randn(3, 5).clamp(max=0.0)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    w, diag = importance_weights(logp, logp.clone(), mask, level=level, mode=mode)
    assert torch.equal(w, mask.float())
    assert diag["weight_mean"] == 1.0 and diag["capped_frac"] == 0.0 and diag["ratio_max"] == 1.0
    assert logp_gap(logp, logp.clone(), mask) == {"mean_abs": 0.0, "max_abs": 0.0}


@pytest.mark.parametrize("mode", ["truncate", "mask"])
def test_ratio_equal_to_cap_is_kept(mode):
    # r = cap exactly (here 1 = 1): neither truncated nor masked, and not counted in capped_frac
    logp = torch.full((2, 3), -0.5)
    w, diag = importance_weights(logp, logp.clone(), torch.ones(2, 3), cap=1.0, mode=mode)
    assert torch.equal(w, torch.ones(2, 3)) and diag["capped_frac"] == 0.0


def test_long_sequence_truncates_at_sequence_level_only():
    # ten tokens each with ratio 1.2: token level keeps 1.2 < 2; the sequence ratio 1.2^10 = 6.19 > 2
    L = 10
    sampler = torch.full((1, L), math.log(0.5))
    old = sampler + math.log(1.2)
    mask = torch.ones(1, L)
    w_tok, d_tok = importance_weights(old, sampler, mask, cap=2.0, level="token")
    assert torch.allclose(w_tok, torch.full((1, L), 1.2))
    assert d_tok["capped_frac"] == 0.0
    w_seq, d_seq = importance_weights(old, sampler, mask, cap=2.0, level="sequence")
    assert torch.allclose(w_seq, torch.full((1, L), 2.0))
    assert d_seq["ratio_max"] == pytest.approx(1.2**L, rel=1e-4) and 1.2**L == pytest.approx(6.1917, abs=1e-4)
    w_mask, _ = importance_weights(old, sampler, mask, cap=2.0, level="sequence", mode="mask")
    assert torch.equal(w_mask, torch.zeros(1, L))
    # three tokens: 1.2^3 = 1.728 <= 2 is kept whole; four: 1.2^4 = 2.0736 > 2 is truncated
    w3, _ = importance_weights(old[:, :3], sampler[:, :3], mask[:, :3], level="sequence")
    w4, _ = importance_weights(old[:, :4], sampler[:, :4], mask[:, :4], level="sequence")
    assert torch.allclose(w3, torch.full((1, 3), 1.728)) and torch.allclose(w4, torch.full((1, 4), 2.0))


def test_long_sequence_does_not_overflow():
    # a sum of log-ratios of 2000 exceeds exp's float32 range; weights stay finite, ratio_max is clamped
    old, sampler, mask = torch.zeros(1, 1000), torch.full((1, 1000), -2.0), torch.ones(1, 1000)
    w, diag = importance_weights(old, sampler, mask, level="sequence")
    assert torch.equal(w, torch.full((1, 1000), 2.0))
    assert math.isfinite(diag["ratio_max"]) and diag["capped_frac"] == 1.0


def test_matches_loop_reference():
    torch.manual_seed(0)
    old, sampler = -torch.rand(4, 6), -torch.rand(4, 6)
    mask = (torch.rand(4, 6) > 0.3).long()
    for level in ("token", "sequence"):
        for mode in ("truncate", "mask"):
            w, _ = importance_weights(old, sampler, mask, cap=1.3, level=level, mode=mode)
            for i in range(4):
                seq = math.exp(sum(float(old[i, t] - sampler[i, t]) for t in range(6) if mask[i, t]))
                for t in range(6):
                    r = seq if level == "sequence" else math.exp(float(old[i, t] - sampler[i, t]))
                    ref = (min(r, 1.3) if mode == "truncate" else float(r <= 1.3)) if mask[i, t] else 0.0
                    assert abs(float(w[i, t]) - ref) < 1e-5, (level, mode, i, t)


@pytest.mark.parametrize("level", ["token", "sequence"])
def test_weights_carry_no_grad(level):
    old, sampler, mask = _example()
    old.requires_grad_(True)
    sampler.requires_grad_(True)
    w, _ = importance_weights(old, sampler, mask, level=level)
    assert not w.requires_grad and w.grad_fn is None
    # as a factor on a policy-gradient term, d/dlogp (w * logp) = w and nothing flows to old or sampler
    logp = torch.zeros(2, 3, requires_grad=True)
    (w * logp).sum().backward()
    assert torch.equal(logp.grad, w) and old.grad is None and sampler.grad is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cap": 0.0}, "cap must be > 0"),
        ({"cap": -1.0}, "cap must be > 0"),
        ({"cap": float("nan")}, "cap must be > 0"),
        ({"level": "row"}, "unknown importance-sampling level 'row'"),
        ({"mode": "clip"}, "unknown importance-sampling mode 'clip'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    old, sampler, mask = _example()
    with pytest.raises(ValueError, match=match):
        importance_weights(old, sampler, mask, **kwargs)


def test_shape_mismatch_raises():
    old, sampler, mask = _example()
    with pytest.raises(ValueError, match="share one"):
        importance_weights(old, sampler[:, :2], mask)
    with pytest.raises(ValueError, match="share one"):
        logp_gap(old, sampler, mask[0])
