"""bradley_terry_loss: hand-computed values, the margin, the gradient's sign, ties, a loop reference."""

import math

import pytest
import torch

from r1kit.algo import bradley_terry_loss


def test_hand_computed_values():
    # diffs 2-1 = 1 and 0-3 = -3:  loss = (log(1 + e^-1) + log(1 + e^3)) / 2
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])
    loss, diag = bradley_terry_loss(chosen, rejected)
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(3.0))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)               # 1.6239...
    assert diag["accuracy"].item() == 0.5
    assert diag["reward_margin"].item() == pytest.approx(-1.0)
    assert diag["chosen_reward"].item() == pytest.approx(1.0)
    assert diag["rejected_reward"].item() == pytest.approx(2.0)


def test_equal_rewards_give_log2_and_half_accuracy():
    r = torch.zeros(4)
    loss, diag = bradley_terry_loss(r, r.clone())
    assert loss.item() == pytest.approx(math.log(2.0))
    assert diag["accuracy"].item() == 0.5


def test_margin_shifts_the_difference():
    # diff 1, margin 1 -> -log sigma(0) = log 2; a per-pair margin tensor works the same
    loss, _ = bradley_terry_loss(torch.tensor([1.0]), torch.tensor([0.0]), margin=1.0)
    assert loss.item() == pytest.approx(math.log(2.0))
    loss, _ = bradley_terry_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), margin=torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx((math.log(2.0) + math.log1p(math.exp(-1.0))) / 2)


def test_gradient_raises_chosen_and_lowers_rejected():
    chosen = torch.tensor([0.3, -0.2], requires_grad=True)
    rejected = torch.tensor([0.1, 0.4], requires_grad=True)
    loss, _ = bradley_terry_loss(chosen, rejected)
    loss.backward()
    # d loss / d r_c = -(1 - sigma(diff)) / B  < 0;  d loss / d r_r = -d loss / d r_c
    diff = (chosen - rejected).detach()
    assert torch.allclose(chosen.grad, -(1 - torch.sigmoid(diff)) / 2)
    assert torch.allclose(rejected.grad, -chosen.grad)


def test_matches_a_loop_reference_and_is_stable_for_large_gaps():
    g = torch.Generator().manual_seed(0)
    chosen, rejected = torch.randn(16, generator=g) * 5, torch.randn(16, generator=g) * 5
    loss, diag = bradley_terry_loss(chosen, rejected, margin=0.5)
    ref = sum(-math.log(1 / (1 + math.exp(-(c - r - 0.5)))) for c, r in zip(chosen.tolist(), rejected.tolist())) / 16
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    assert diag["accuracy"].item() == sum(c > r for c, r in zip(chosen.tolist(), rejected.tolist())) / 16
    big, _ = bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert big.item() == pytest.approx(400.0)                               # softplus, no overflow to inf


def test_shapes_must_match():
    with pytest.raises(ValueError):
        bradley_terry_loss(torch.zeros(3), torch.zeros(2))
