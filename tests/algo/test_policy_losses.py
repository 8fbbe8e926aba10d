import math

import pytest
import torch

from r1kit.algo import LOSSES, cispo_loss, grpo_loss, gspo_loss


def _leaf(rows):
    return torch.tensor(rows, dtype=torch.float32).requires_grad_()


def test_registry_names_and_shared_signature():
    assert LOSSES == {"grpo": grpo_loss, "gspo": gspo_loss, "cispo": cispo_loss}
    logp, mask = torch.zeros(2, 3), torch.ones(2, 3)
    for fn in LOSSES.values():
        loss, diag = fn(logp, logp, logp, torch.tensor([1.0, -1.0]), mask, clip_low=0.2, clip_high=0.28,
                        beta=0.1, aggregation="seq_mean", max_len=4)
        assert loss.dim() == 0 and set(diag) == {"clip_frac_low", "clip_frac_high", "kl", "ratio_mean"}


def test_gspo_sequence_ratio_unclipped_and_clipped():
    # seq 0: token log-ratios .3, -.2 (pad 5.0 masked) -> s = e^.05 = 1.05127, inside [.8, 1.2]; A = 2
    #        (token-level PPO would clip token 0: e^.3 = 1.35 > 1.2 with A > 0)
    # seq 1: log-ratios .4, .2 -> s = e^.3 = 1.34986 > 1.2, A = 1 -> clipped: l = -1.2, no gradient
    old = torch.zeros(2, 3)
    logp = _leaf([[0.3, -0.2, 5.0], [0.4, 0.2, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    adv = torch.tensor([2.0, 1.0])
    loss, d = gspo_loss(logp, old, None, adv, mask, clip_low=0.2, clip_high=0.2, aggregation="token_mean")
    s0, s1 = math.exp(0.05), math.exp(0.3)
    assert abs(loss.item() - (-2 * s0 - 1.2) / 2) < 1e-5
    loss.backward()
    # d/dlogp_t of -s_0 A_0 / B = -A_0 s_0 / (|o_0| B) on each of seq 0's tokens; padding and clipped seq: 0
    g0 = -2.0 * s0 / (2 * 2)
    assert torch.allclose(logp.grad, torch.tensor([[g0, g0, 0.0], [0.0, 0.0, 0.0]]), atol=1e-6)
    assert d["clip_frac_high"] == 0.5 and d["clip_frac_low"] == 0.0
    assert abs(d["ratio_mean"] - (s0 + s1) / 2) < 1e-5


def test_gspo_pessimistic_side_is_not_clipped_and_kl_is_a_sequence_mean():
    # s = e^.3 > 1.2 but A = -1: min(-1.35, -1.2) = -1.35 -> l = 1.34986 (gradient kept)
    logp = _leaf([[0.4, 0.2]])
    ref = torch.tensor([[0.0, 0.5]])
    loss, d = gspo_loss(logp, torch.zeros(1, 2), ref, torch.tensor([-1.0]), torch.ones(1, 2), beta=0.1)
    k3 = [math.exp(r - l) - (r - l) - 1 for r, l in ((0.0, 0.4), (0.5, 0.2))]
    assert abs(loss.item() - (math.exp(0.3) + 0.1 * sum(k3) / 2)) < 1e-5
    assert abs(d["kl"] - sum(k3) / 2) < 1e-6 and d["clip_frac_high"] == 0.0
    loss.backward()
    assert (logp.grad.abs() > 0).all()


def test_gspo_rejects_per_token_advantages():
    with pytest.raises(ValueError, match="one advantage per sequence"):
        gspo_loss(torch.zeros(1, 2), torch.zeros(1, 2), None, torch.ones(1, 2), torch.ones(1, 2))


def test_cispo_gradient_is_the_clipped_weight_on_every_token():
    # ratios: seq 0 (A = +1): 1.5 (above the clip: PPO zeroes it), 1.1, 0.5 ; seq 1 (A = -2): 1.5, 0.9, pad
    old = torch.log(torch.tensor([[0.2, 0.5, 0.4], [0.2, 0.5, 0.3]]))
    ratio = torch.tensor([[1.5, 1.1, 0.5], [1.5, 0.9, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv = torch.tensor([1.0, -2.0])
    logp = (old + ratio.log()).detach().requires_grad_()
    loss, d = cispo_loss(logp, old, None, adv, mask, clip_low=0.2, clip_high=0.2)
    weight = torch.tensor([[1.2, 1.1, 0.8], [1.2, 0.9, 1.0]])                   # clip(ratio, .8, 1.2)
    a = adv.unsqueeze(1)
    assert abs(loss.item() - float((-weight * a * logp.detach() * mask).sum() / 5)) < 1e-5
    loss.backward()
    assert torch.allclose(logp.grad, -weight * a * mask / 5, atol=1e-6)      # token_mean: normaliser 5
    assert logp.grad[0, 0] != 0
    ppo = logp.detach().clone().requires_grad_()
    grpo_loss(ppo, old, None, adv, mask, clip_low=0.2, clip_high=0.2)[0].backward()
    assert ppo.grad[0, 0] == 0                                                 # PPO's clip: no gradient there
    assert d["clip_frac_high"] == pytest.approx(2 / 5) and d["clip_frac_low"] == pytest.approx(1 / 5)
    # seq_mean: the normaliser is B * |o_i|
    logp.grad = None
    cispo_loss(logp, old, None, adv, mask, aggregation="seq_mean")[0].backward()
    lengths = torch.tensor([[3.0], [2.0]])
    assert torch.allclose(logp.grad, -weight * a * mask / (2 * lengths), atol=1e-6)


def _grad(fn, logp, ref, adv, mask, **kw):
    x = logp.clone().requires_grad_()
    fn(x, logp, ref, adv, mask, beta=0.05, **kw)[0].backward()
    return x.grad


def test_at_ratio_one_cispo_is_grpo_and_gspo_is_seq_mean_grpo():
    """logp == old_logp: CISPO's gradient equals GRPO's under the same aggregation; GSPO's equals GRPO
    with seq_mean (d s_i / d logp_t = 1/|o_i|), and differs from token_mean on unequal lengths."""
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(3, 5, generator=g) * 3                                   # (3, 5)
    ref = logp + 0.1 * torch.randn(3, 5, generator=g)
    mask = torch.tensor([[1.0] * 5, [1.0] * 2 + [0.0] * 3, [1.0] * 4 + [0.0]])
    adv = torch.tensor([1.0, -0.5, 2.0])
    for agg in ("token_mean", "seq_mean", "constant"):
        ref_grad = _grad(grpo_loss, logp, ref, adv, mask, aggregation=agg)
        assert torch.allclose(_grad(cispo_loss, logp, ref, adv, mask, aggregation=agg), ref_grad, atol=1e-6)
    gspo = _grad(gspo_loss, logp, ref, adv, mask, aggregation="token_mean")
    assert torch.allclose(gspo, _grad(grpo_loss, logp, ref, adv, mask, aggregation="seq_mean"), atol=1e-6)
    assert not torch.allclose(gspo, _grad(grpo_loss, logp, ref, adv, mask, aggregation="token_mean"), atol=1e-4)


def test_beta_needs_ref_logp():
    for fn in (gspo_loss, cispo_loss):
        with pytest.raises(ValueError):
            fn(torch.zeros(1, 1), torch.zeros(1, 1), None, torch.ones(1), torch.ones(1, 1), beta=0.1)
