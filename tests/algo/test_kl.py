import math

import torch

from r1kit.algo import k3_kl


def test_k3_zero_at_equality_and_nonnegative():
    logp = torch.randn(4, 7)
    assert torch.allclose(k3_kl(logp, logp), torch.zeros(4, 7))
    assert (k3_kl(logp, torch.randn(4, 7)) >= 0).all()


def test_k3_hand_computed():
    # ref - logp = log(2): e^{log 2} - log 2 - 1 = 1 - log 2
    logp = torch.tensor([[math.log(0.25)]])
    ref = torch.tensor([[math.log(0.5)]])
    assert abs(k3_kl(logp, ref).item() - (1 - math.log(2))) < 1e-6


def test_k3_unbiased_for_true_kl():
    # E_{x~p}[k3] = KL(p || q) for categorical p, q
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(5), 0)
    q = torch.softmax(torch.randn(5), 0)
    x = torch.multinomial(p, 200_000, replacement=True)
    est = k3_kl(p.log()[x], q.log()[x]).mean().item()
    true = (p * (p.log() - q.log())).sum().item()
    assert abs(est - true) < 0.01
