"""is_weights (off-policy importance weights, issue 11 item 5) in grpo_loss, gspo_loss and cispo_loss: weights of
1 change nothing, a weight of 0 removes a token's gradient, the KL term is never weighted, and a 2x3 case by hand."""

import pytest
import torch

from r1kit.algo import LOSSES, cispo_loss, grpo_loss, gspo_loss

MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])                   # (2, 3)
ADV = torch.tensor([1.0, -2.0])                                            # (2,)
W = torch.tensor([[1.0, 0.5, 0.0], [2.0, 1.0, 7.0]])                      # (2, 3), 7 sits on a masked token
OLD = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.0, -4.0]])              # (2, 3)


def loss_and_grad(fn, logp, weights=None, **kw):
    logp = logp.clone().requires_grad_(True)
    loss, _ = fn(logp, OLD, kw.pop("ref_logp", None), ADV, MASK, is_weights=weights, **kw)
    loss.backward()
    return loss.item(), logp.grad


@pytest.mark.parametrize("name", ["grpo", "gspo", "cispo"])
@pytest.mark.parametrize("aggregation", ["seq_mean", "token_mean", "constant"])
def test_weights_of_one_change_nothing(name, aggregation):
    gen = torch.Generator().manual_seed(0)
    logp = OLD + 0.3 * torch.randn(OLD.shape, generator=gen)              # ratios away from 1, some clipped
    ref = OLD + 0.2 * torch.randn(OLD.shape, generator=gen)
    kw = dict(aggregation=aggregation, beta=0.1, ref_logp=ref, max_len=4)
    plain = loss_and_grad(LOSSES[name], logp, None, **dict(kw))
    ones = loss_and_grad(LOSSES[name], logp, torch.ones_like(OLD), **dict(kw))
    assert ones[0] == pytest.approx(plain[0], abs=1e-7)
    assert torch.allclose(ones[1], plain[1], atol=1e-7)


@pytest.mark.parametrize("fn", [grpo_loss, cispo_loss])
def test_zero_weight_removes_the_tokens_gradient(fn):
    logp = OLD + torch.tensor([[0.1, -0.1, 0.05], [0.0, 0.2, 0.0]])
    _, grad = loss_and_grad(fn, logp, W)
    assert grad[0, 2] == 0.0 and grad[1, 2] == 0.0                        # w = 0; masked
    assert (grad[0, :2] != 0).all() and (grad[1, :2] != 0).all()
    _, unweighted = loss_and_grad(fn, logp)
    assert unweighted[0, 2] != 0.0


def test_gspo_zero_weights_remove_the_rows_gradient():
    w = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    _, grad = loss_and_grad(gspo_loss, OLD + 0.01, w)
    assert (grad[0] == 0).all() and (grad[1, :2] != 0).all()


def test_kl_term_is_not_weighted():
    """All weights 0: only beta * KL is left, exactly the loss with advantages 0 and no weights."""
    ref = OLD - 0.3
    for fn in (grpo_loss, gspo_loss, cispo_loss):
        logp = OLD + 0.1
        zero, _ = fn(logp, OLD, ref, ADV, MASK, beta=0.5, is_weights=torch.zeros_like(OLD))
        kl_only, _ = fn(logp, OLD, ref, torch.zeros(2), MASK, beta=0.5)
        assert zero.item() == pytest.approx(kl_only.item(), abs=1e-7) and kl_only.item() > 0


def test_hand_computed_2x3():
    """ratio = 1 (logp = old_logp): no clip, so per token l_t = -w_t A_i (GRPO), -w_t A_i logp_t (CISPO).

    GRPO token_mean: row 0: -(1 + 0.5 + 0) * 1 = -1.5; row 1: -(2 + 1) * -2 = 6; (6 - 1.5) / 5 tokens = 0.9
         seq_mean:   (-1.5 / 3 + 6 / 2) / 2 = 1.25
         d/dlogp (token_mean) = -w_t A_i / 5 = [[-.2, -.1, 0], [.8, .4, 0]]
    CISPO token_mean: row 0: -(1 * -1 + .5 * -2) = 2; row 1: -(2 * -2 * -.5 + 1 * -2 * -1) = -4; -2 / 5 = -0.4
         the same gradient as GRPO at ratio 1
    GSPO: w_i = masked mean = [0.5, 1.5]; l_i = -w_i A_i = [-0.5, 3]; mean 1.25
         d/dlogp_t = -w_i A_i / |o_i| / B = row 0: -1/12 per token; row 1: 0.75 on its two tokens
    """
    loss, grad = loss_and_grad(grpo_loss, OLD, W, aggregation="token_mean")
    assert loss == pytest.approx(0.9)
    assert torch.allclose(grad, torch.tensor([[-0.2, -0.1, 0.0], [0.8, 0.4, 0.0]]))
    assert loss_and_grad(grpo_loss, OLD, W, aggregation="seq_mean")[0] == pytest.approx(1.25)
    loss, grad = loss_and_grad(cispo_loss, OLD, W, aggregation="token_mean")
    assert loss == pytest.approx(-0.4)
    assert torch.allclose(grad, torch.tensor([[-0.2, -0.1, 0.0], [0.8, 0.4, 0.0]]))
    loss, grad = loss_and_grad(gspo_loss, OLD, W)
    assert loss == pytest.approx(1.25)
    assert torch.allclose(grad, torch.tensor([[-1 / 12, -1 / 12, -1 / 12], [0.75, 0.75, 0.0]]))


def test_weights_carry_no_gradient():
    w = W.clone().requires_grad_(True)
    loss, _ = grpo_loss(OLD.clone().requires_grad_(True), OLD, None, ADV, MASK, is_weights=w)
    loss.backward()
    assert w.grad is None
