"""One GRPO update moves probability toward positive-advantage completions."""

import torch

from r1kit.models import load_model
from r1kit.train.config import GRPORunConfig
from r1kit.train.forward import completion_logprobs
from r1kit.train.grpo import Batch, policy_update
from r1kit.train.optim import make_optimizer


def test_positive_advantage_sequence_gains_probability(tiny_model_dir):
    torch.manual_seed(0)
    model = load_model(str(tiny_model_dir))
    cfg = GRPORunConfig()
    cfg.rollout.temperature = 1.0
    prompt = torch.randint(10, 500, (1, 6)).repeat(2, 1)                        # (2, 6) same prompt
    completion = torch.randint(10, 500, (2, 5))                                   # (2, 5)
    mask = torch.ones(2, 5)
    with torch.no_grad():
        old, _ = completion_logprobs(model, prompt, torch.ones(2, 6), completion, mask, 1.0)
    batch = Batch(prompt, torch.ones(2, 6), completion, mask, old, torch.tensor([1.0, -1.0]), None)
    opt, _ = make_optimizer(model, lr=1e-2, weight_decay=0.0, betas=(0.9, 0.99), total_steps=1, warmup_steps=0,
                            schedule="constant", min_ratio=1.0)
    model.train()
    stats = policy_update(model, batch, cfg, opt)
    assert stats["ratio_mean"] == 1.0 and stats["grad_norm"] > 0
    with torch.no_grad():
        new, _ = completion_logprobs(model, prompt, torch.ones(2, 6), completion, mask, 1.0)
    assert new[0].sum() > old[0].sum()   # positive advantage: more likely
    assert new[1].sum() < old[1].sum()   # negative advantage: less likely


def test_micro_batches_accumulate_to_the_full_batch_gradient(tiny_model_dir, monkeypatch):
    """micro = 0 runs the 4 rows through the shared-prefix branch (a 10-token common prefix, left-padded
    prompts of unequal length); micro = 1 runs each row alone (plain branch): the gradients must agree."""
    from r1kit.train import forward

    seen, real = [], forward.prefix_shared_logits
    monkeypatch.setattr(forward, "prefix_shared_logits", lambda *a: seen.append(a[3]) or real(*a))
    torch.manual_seed(1)
    grads = []
    template, pads = torch.randint(10, 500, (10,)), [0, 2, 0, 1]
    prompt = torch.stack([torch.cat([torch.ones(k, dtype=torch.long), template, torch.randint(10, 500, (5 - k,))])
                          for k in pads])                                            # (4, 15) left-padded
    prompt_mask = torch.stack([torch.arange(15) >= k for k in pads]).float()          # (4, 15)
    completion = torch.randint(10, 500, (4, 6))
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5]).float()
    for micro in (0, 1, 3):
        for aggregation in ("token_mean", "seq_mean"):
            model = load_model(str(tiny_model_dir))
            cfg = GRPORunConfig()
            cfg.optim.micro_batch_size, cfg.grpo.aggregation = micro, aggregation
            # fixed old logp near the policy's (~ -log V): ratios 1 +- 0.2, so some clip and gradients are not tiny
            old = -6.9 + 0.2 * torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
            batch = Batch(prompt, prompt_mask, completion, mask, old, torch.tensor([1.0, -0.5, 0.3, -2.0]), None)
            opt = torch.optim.SGD(model.parameters(), lr=0.0)
            stats = policy_update(model, batch, cfg, opt)
            assert stats["clip_frac_low"] + stats["clip_frac_high"] > 0
            grads.append((aggregation, micro, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])))
    assert max(seen) == 10   # the whole batch took the shared-prefix branch
    for agg in ("token_mean", "seq_mean"):
        ref = next(g for a, m, g in grads if a == agg and m == 0)
        for a, m, g in grads:
            if a == agg:
                assert (g - ref).norm() / ref.norm() < 1e-5, (agg, m)


def test_zero_advantage_rows_skip_the_update_and_change_nothing(tiny_model_dir, monkeypatch):
    """beta = 0: rows of zero advantage run no forward, yet the gradient (all three losses, both normalisers) is
    the one with every row in; they still count in the token normaliser. skipped_frac says how many were left
    out; with every advantage zero the optimizer still steps on zero gradients (AdamW's moments move it)."""
    from r1kit import algo
    from r1kit.train import update

    torch.manual_seed(3)
    prompt, prompt_mask = torch.randint(10, 500, (4, 8)), torch.ones(4, 8)
    completion = torch.randint(10, 500, (4, 5))
    mask = torch.tensor([[1] * 5, [1] * 3 + [0] * 2, [1] * 5, [1] * 2 + [0] * 3]).float()
    old = -6.9 + 0.2 * torch.randn(4, 5, generator=torch.Generator().manual_seed(4))
    rows_run = []
    real = update.completion_logprobs

    def counting(model, prompt_ids, *a, **k):
        rows_run.append(prompt_ids.shape[0])
        return real(model, prompt_ids, *a, **k)

    monkeypatch.setattr(update, "completion_logprobs", counting)
    for loss in ("grpo", "cispo", "gspo"):
        for aggregation in ("token_mean", "seq_mean"):
            grads = []
            for every_row in (False, True):
                model = load_model(str(tiny_model_dir))
                cfg = GRPORunConfig()
                cfg.grpo.loss, cfg.grpo.aggregation, cfg.optim.micro_batch_size = loss, aggregation, 1
                batch = Batch(prompt, prompt_mask, completion, mask, old, torch.tensor([1.0, 0.0, -0.5, 0.0]), None)
                opt = torch.optim.SGD(model.parameters(), lr=0.0)
                rows_run.clear()
                if every_row:  # the reference: every row in, through the same code
                    loss_of = lambda mb, idx, logp: algo.LOSSES[loss](logp, mb.old_logp, None, mb.advantages,
                                                                      mb.completion_mask, beta=0.0,
                                                                      aggregation=aggregation, max_len=5)
                    stats = update.accumulate_update(model, batch, cfg, opt, loss_of,
                                                     by_tokens=aggregation == "token_mean" and loss != "gspo")
                    assert sum(rows_run) == 4 and "skipped_frac" not in stats
                else:
                    stats = policy_update(model, batch, cfg, opt)
                    assert sum(rows_run) == 2 and stats["skipped_frac"] == 0.5
                grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
            assert (grads[0] - grads[1]).norm() <= 1e-6 * grads[1].norm(), (loss, aggregation)
    model = load_model(str(tiny_model_dir))
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    stats = policy_update(model, Batch(prompt, prompt_mask, completion, mask, old, torch.zeros(4), None),
                          GRPORunConfig(), opt)
    assert stats["skipped_frac"] == 1.0 and stats["grad_norm"] == 0.0
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))  # weight decay still applied
