import pytest
import torch

from r1kit.algo import aggregate, clipped_surrogate, grpo_loss


def _lp(x):
    return torch.log(torch.tensor(x))


def test_surrogate_inside_clip_is_ratio_times_advantage():
    logp, old = _lp([[0.55]]), _lp([[0.5]])                  # ratio 1.1
    loss, ratio = clipped_surrogate(logp, old, torch.tensor([2.0]), 0.2, 0.2)
    assert abs(ratio.item() - 1.1) < 1e-6
    assert abs(loss.item() - (-2.2)) < 1e-5


def test_surrogate_clips_high_side_for_positive_advantage():
    logp, old = _lp([[0.9]]), _lp([[0.5]])                    # ratio 1.8 -> clip 1.2 (0.28 with clip_high .28)
    loss, _ = clipped_surrogate(logp, old, torch.tensor([1.0]), 0.2, 0.2)
    assert abs(loss.item() - (-1.2)) < 1e-5
    loss, _ = clipped_surrogate(logp, old, torch.tensor([1.0]), 0.2, 0.28)
    assert abs(loss.item() - (-1.28)) < 1e-5


def test_surrogate_clips_low_side_for_negative_advantage():
    logp, old = _lp([[0.25]]), _lp([[0.5]])                   # ratio 0.5 -> clip 0.8; min(-0.5, -0.8) = -0.8
    loss, _ = clipped_surrogate(logp, old, torch.tensor([-1.0]), 0.2, 0.2)
    assert abs(loss.item() - 0.8) < 1e-5


def test_surrogate_does_not_clip_the_pessimistic_side():
    # A < 0 and ratio > 1+eps: min picks the unclipped (more negative) term -> loss = ratio * |A|
    logp, old = _lp([[0.9]]), _lp([[0.5]])
    loss, _ = clipped_surrogate(logp, old, torch.tensor([-1.0]), 0.2, 0.2)
    assert abs(loss.item() - 1.8) < 1e-5


def test_clip_gradient_is_zero_when_clipped():
    logp = _lp([[0.9]]).requires_grad_()
    loss, _ = clipped_surrogate(logp, _lp([[0.5]]), torch.tensor([1.0]), 0.2, 0.2)
    loss.sum().backward()
    assert logp.grad.abs().item() == 0.0


# unequal lengths: seq 0 has 1 token (loss 4), seq 1 has 3 tokens (loss 1 each)
LOSS = torch.tensor([[4.0, 9.0, 9.0], [1.0, 1.0, 1.0]])
MASK = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def test_aggregations_hand_computed():
    assert aggregate(LOSS, MASK, "seq_mean").item() == pytest.approx((4.0 + 1.0) / 2)
    assert aggregate(LOSS, MASK, "token_mean").item() == pytest.approx(7.0 / 4)
    assert aggregate(LOSS, MASK, "constant").item() == pytest.approx(7.0 / (2 * 3))
    assert aggregate(LOSS, MASK, "constant", max_len=10).item() == pytest.approx(7.0 / 20)
    with pytest.raises(ValueError):
        aggregate(LOSS, MASK, "sum")


def test_aggregation_matches_loop_reference():
    torch.manual_seed(0)
    loss = torch.randn(5, 9)
    mask = (torch.rand(5, 9) > 0.3).float()
    mask[2] = 0  # an empty sequence
    per_seq = [sum(loss[i, t] for t in range(9) if mask[i, t]) / max(1, mask[i].sum()) for i in range(5)]
    assert aggregate(loss, mask, "seq_mean").item() == pytest.approx(float(sum(per_seq)) / 5, abs=1e-5)
    tok = sum(loss[i, t] for i in range(5) for t in range(9) if mask[i, t]) / mask.sum()
    assert aggregate(loss, mask, "token_mean").item() == pytest.approx(float(tok), abs=1e-5)


def test_grpo_loss_on_policy_ratio_one_and_diagnostics():
    logp = torch.randn(3, 4)
    adv = torch.tensor([1.0, -1.0, 0.5])
    mask = torch.ones(3, 4)
    loss, d = grpo_loss(logp, logp.clone(), None, adv, mask, clip_low=0.2, clip_high=0.2, beta=0.0)
    assert d["ratio_mean"] == pytest.approx(1.0)
    assert d["clip_frac_low"] == 0.0 and d["clip_frac_high"] == 0.0 and d["kl"] == 0.0
    assert loss.item() == pytest.approx(-adv.mean().item(), abs=1e-6)  # token_mean of -A


def test_grpo_loss_clip_fractions_and_kl():
    old = _lp([[0.5, 0.5], [0.5, 0.5]])
    logp = _lp([[0.9, 0.5], [0.25, 0.5]])                    # ratios 1.8, 1 / 0.5, 1
    adv = torch.tensor([1.0, -1.0])
    ref = old.clone()
    loss, d = grpo_loss(logp, old, ref, adv, torch.ones(2, 2), clip_low=0.2, clip_high=0.2, beta=0.1)
    assert d["clip_frac_high"] == pytest.approx(0.25)
    assert d["clip_frac_low"] == pytest.approx(0.25)
    kl = torch.exp(ref - logp) - (ref - logp) - 1
    assert d["kl"] == pytest.approx(kl.mean().item(), abs=1e-6)
    surrogate = torch.tensor([[-1.2, -1.0], [0.8, 1.0]])
    assert loss.item() == pytest.approx((surrogate + 0.1 * kl).mean().item(), abs=1e-5)


def test_beta_positive_requires_ref():
    with pytest.raises(ValueError):
        grpo_loss(torch.zeros(1, 1), torch.zeros(1, 1), None, torch.ones(1), torch.ones(1, 1), beta=0.1)
