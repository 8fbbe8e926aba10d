import math

import pytest
import torch

from r1kit.algo import dr_grpo_advantages, group_advantages, zero_spread_groups


def test_group_advantages_hand_computed():
    # group 1: rewards 1,0,0,1 -> mean .5, population std .5 -> +-1 (eps 1e-4 shrinks slightly)
    # group 2: rewards 2,0,0,0 -> mean .5, std sqrt(.75) ; A = (r - .5)/sqrt(.75)
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0])
    adv = group_advantages(r, 4, eps=1e-4)
    s = math.sqrt(0.75)
    expected = [0.5 / 0.5001, -0.5 / 0.5001, -0.5 / 0.5001, 0.5 / 0.5001,
                1.5 / (s + 1e-4), -0.5 / (s + 1e-4), -0.5 / (s + 1e-4), -0.5 / (s + 1e-4)]
    assert torch.allclose(adv, torch.tensor(expected), atol=1e-6)


def test_population_not_sample_std():
    r = torch.tensor([0.0, 1.0])
    # population std of (0, 1) is 0.5 (sample std would be 0.707)
    assert torch.allclose(group_advantages(r, 2, eps=0.0), torch.tensor([-1.0, 1.0]))


def test_advantages_sum_to_zero_per_group():
    r = torch.rand(6 * 8)
    for fn in (group_advantages, dr_grpo_advantages):
        assert torch.allclose(fn(r, 8).view(6, 8).sum(1), torch.zeros(6), atol=1e-5)


def test_all_equal_group_has_zero_advantage():
    r = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    adv = group_advantages(r, 3)
    assert torch.equal(adv[:3], torch.zeros(3))
    assert zero_spread_groups(r, 3).tolist() == [True, False]


def test_dr_grpo_has_no_std():
    r = torch.tensor([3.0, 1.0, 0.0, 0.0])
    assert torch.allclose(dr_grpo_advantages(r, 2), torch.tensor([1.0, -1.0, 0.0, 0.0]))


def test_bad_group_size():
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(4), 1)
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(5), 2)
