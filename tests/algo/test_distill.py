"""On-policy distillation math: hand-computed values, invariants, and the surrogate's gradient against the
exact reverse-KL gradient of a tiny categorical policy (expectation over the vocabulary, no sampling)."""

import math

import pytest
import torch

from r1kit.algo import onpolicy_distill_loss, reverse_kl_advantages

OLD = torch.tensor([[-1.0, -2.0, -0.5], [-1.5, -0.3, -9.0]])
TEACHER = torch.tensor([[-0.5, -2.5, -0.5], [-1.0, -1.3, 0.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_advantages_by_hand():
    adv = reverse_kl_advantages(OLD, TEACHER, MASK)
    assert torch.allclose(adv, torch.tensor([[0.5, -0.5, 0.0], [0.5, -1.0, 0.0]]))   # masked token: 0, not 9


def test_advantages_carry_no_gradient():
    old = OLD.clone().requires_grad_(True)
    assert not reverse_kl_advantages(old, TEACHER, MASK).requires_grad


def test_on_policy_loss_and_gradient_by_hand():
    logp = OLD.clone().requires_grad_(True)
    loss, diag = onpolicy_distill_loss(logp, OLD, TEACHER, MASK)
    # 5 tokens; old - teacher = -0.5, 0.5, 0, -0.5, 1.0 -> k1 mean 0.1; ratio 1 so loss = -mean(A) = 0.1
    assert loss.item() == pytest.approx(0.1) and diag["reverse_kl"] == pytest.approx(0.1)
    assert diag["ratio_mean"] == pytest.approx(1.0)
    assert diag["clip_frac_low"] == 0.0 and diag["clip_frac_high"] == 0.0
    loss.backward()
    # dL/dlogp_t = -A_t / 5: up where the teacher likes the token more, down where less
    assert torch.allclose(logp.grad, torch.tensor([[-0.1, 0.1, 0.0], [-0.1, 0.2, 0.0]]))


def test_off_policy_ratio_with_and_without_clip_by_hand():
    ratio = torch.tensor([[2.0, 1.0, 1.0], [0.5, 1.5, math.exp(5.0)]])
    logp = OLD + ratio.log()
    loss, diag = onpolicy_distill_loss(logp, OLD, TEACHER, MASK)
    # -ratio*A = -1.0, 0.5, 0, -0.25, 1.5 -> 0.75 / 5
    assert loss.item() == pytest.approx(0.15, abs=1e-6)
    assert diag["ratio_mean"] == pytest.approx(1.2, abs=1e-6)          # the masked e^5 is not counted
    loss, diag = onpolicy_distill_loss(logp, OLD, TEACHER, MASK, clip=0.2)
    # -min(rA, clip(r)A) = -0.6, 0.5, 0, -0.25, 1.5 -> 1.15 / 5
    assert loss.item() == pytest.approx(0.23, abs=1e-6)
    assert diag["clip_frac_high"] == pytest.approx(0.2) and diag["clip_frac_low"] == 0.0
    assert diag["reverse_kl"] == pytest.approx(0.1)                    # measured on old_logp, ratio-free


def test_teacher_equal_to_student_gives_zero():
    logp = OLD.clone().requires_grad_(True)
    loss, diag = onpolicy_distill_loss(logp, OLD, OLD, MASK)
    loss.backward()
    assert loss.item() == 0.0 and diag["reverse_kl"] == 0.0 and torch.count_nonzero(logp.grad) == 0


def _exact_kl(logits, teacher_logits):
    """KL(pi || pi_T) = sum_y pi(y) (log pi(y) - log pi_T(y)), with autograd through pi."""
    logp, tlogp = logits.log_softmax(-1), teacher_logits.log_softmax(-1)
    return (logp.exp() * (logp - tlogp)).sum(-1)


def test_surrogate_gradient_is_the_exact_reverse_kl_gradient():
    """One position, vocab V: E_{y~pi}[surrogate(y)] (weights pi(y) without grad, as sampling gives) has the
    gradient of KL(pi || pi_T); the forward KL's gradient, or the sign flipped, would not match."""
    torch.manual_seed(0)
    V = 6
    logits = (torch.randn(V) * 1.5).requires_grad_(True)
    teacher_logits = torch.randn(V) * 1.5
    logp_all, tlogp_all = logits.log_softmax(-1), teacher_logits.log_softmax(-1)
    pi = logp_all.exp().detach()                                        # (V,) the sampling weights
    expected_loss, expected_kl = 0.0, 0.0
    for y in range(V):
        logp = logp_all[y].view(1, 1)                                   # (B=1, T=1)
        loss, diag = onpolicy_distill_loss(logp, logp.detach(), tlogp_all[y].view(1, 1), torch.ones(1, 1))
        expected_loss = expected_loss + pi[y] * loss
        expected_kl += float(pi[y]) * diag["reverse_kl"]
    (grad,) = torch.autograd.grad(expected_loss, logits)
    exact = _exact_kl(logits, teacher_logits)
    (exact_grad,) = torch.autograd.grad(exact, logits)
    assert expected_kl == pytest.approx(exact.item(), rel=1e-5)       # k1 is unbiased
    assert torch.allclose(grad, exact_grad, atol=1e-6), (grad, exact_grad)
    forward = (tlogp_all.exp() * (tlogp_all - logits.log_softmax(-1))).sum()
    (forward_grad,) = torch.autograd.grad(forward, logits)
    assert (grad - forward_grad).abs().max() > 1e-2                     # the check can tell the two KLs apart
    assert exact_grad.abs().max() > 1e-2


def test_token_mean_over_positions_is_the_mean_of_per_position_kl_gradients():
    """Two positions with their own categorical policies, every (y1, y2) pair weighted by pi1(y1) pi2(y2):
    the gradient is (grad KL_1 + grad KL_2) / 2 for each position's own logits (no cross-position terms)."""
    torch.manual_seed(1)
    V = 4
    logits = (torch.randn(2, V) * 2.0).requires_grad_(True)            # (T=2, V)
    teacher_logits = torch.randn(2, V) * 2.0
    logp_all, tlogp_all = logits.log_softmax(-1), teacher_logits.log_softmax(-1)   # (2, V)
    pi = logp_all.exp().detach()
    expected = 0.0
    for y1 in range(V):
        for y2 in range(V):
            logp = torch.stack([logp_all[0, y1], logp_all[1, y2]]).view(1, 2)       # (B=1, T=2)
            teacher = torch.stack([tlogp_all[0, y1], tlogp_all[1, y2]]).view(1, 2)
            loss, _ = onpolicy_distill_loss(logp, logp.detach(), teacher, torch.ones(1, 2))
            expected = expected + pi[0, y1] * pi[1, y2] * loss
    (grad,) = torch.autograd.grad(expected, logits)
    (exact_grad,) = torch.autograd.grad(_exact_kl(logits, teacher_logits).mean(), logits)
    assert torch.allclose(grad, exact_grad, atol=1e-6), (grad, exact_grad)
