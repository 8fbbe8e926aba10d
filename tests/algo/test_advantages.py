import math

import pytest
import torch

from r1kit.algo import (ADVANTAGES, dr_grpo_advantages, group_advantages, reinforce_pp_advantages, rloo_advantages,
                        zero_spread_groups)


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


def test_rloo_hand_computed():
    # group 1: 1,0,0,1 -> A_1 = 1 - (0+0+1)/3 = 2/3, A_2 = 0 - (1+0+1)/3 = -2/3
    # group 2: 2,0,0,0 -> A_1 = 2 - 0 = 2,          A_2 = 0 - (2+0+0)/3 = -2/3
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0])
    third = 1 / 3
    expected = [2 * third, -2 * third, -2 * third, 2 * third, 2.0, -2 * third, -2 * third, -2 * third]
    assert torch.allclose(rloo_advantages(r, 4), torch.tensor(expected), atol=1e-6)


def test_rloo_is_a_loop_over_the_others_and_a_scaled_dr_grpo():
    r, G = torch.rand(5 * 3), 3
    loop = [r[i].item() - (r[(i // G) * G:(i // G + 1) * G].sum().item() - r[i].item()) / (G - 1) for i in range(15)]
    adv = rloo_advantages(r, G)
    assert torch.allclose(adv, torch.tensor(loop), atol=1e-6)
    assert torch.allclose(adv, G / (G - 1) * dr_grpo_advantages(r, G), atol=1e-6)
    assert torch.allclose(adv.view(5, 3).sum(1), torch.zeros(5), atol=1e-5)


def test_reinforce_pp_hand_computed_batch_std():
    # centred: .5 -.5 -.5 .5 | 1.5 -.5 -.5 -.5 ; batch population var = (4*.25 + 2.25 + 3*.25)/8 = .5
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0])
    centred = torch.tensor([0.5, -0.5, -0.5, 0.5, 1.5, -0.5, -0.5, -0.5])
    assert torch.allclose(reinforce_pp_advantages(r, 4, eps=0.0), centred / math.sqrt(0.5), atol=1e-6)
    assert torch.allclose(reinforce_pp_advantages(r, 4, eps=1e-4), centred / (math.sqrt(0.5) + 1e-4), atol=1e-6)
    # one scale for the batch: a group with a tiny spread stays tiny (GRPO would blow it up to +-1)
    r = torch.tensor([0.0, 1.0, 0.0, 0.01])
    adv = reinforce_pp_advantages(r, 2, eps=0.0)
    assert abs(adv[3] / adv[1] - 0.01) < 1e-5
    assert torch.allclose(group_advantages(r, 2, eps=0.0)[2:], torch.tensor([-1.0, 1.0]), atol=1e-4)


def test_registry_and_all_equal_groups_for_new_estimators():
    assert ADVANTAGES["rloo"] is rloo_advantages and ADVANTAGES["reinforce_pp"] is reinforce_pp_advantages
    r = torch.tensor([1.0, 1.0, 0.0, 1.0])
    for fn in (rloo_advantages, reinforce_pp_advantages):
        assert torch.equal(fn(r, 2)[:2], torch.zeros(2))
        with pytest.raises(ValueError):
            fn(torch.zeros(4), 1)
