"""completion_logprobs (train/forward.py) against a plain forward of each row alone.

The reference: concatenate a row's real prompt tokens and real completion tokens (no padding),
run the model on that one row, take log_softmax(logits / T) at each completion token. The batched
path (re-packing of left-padded prompts, the shared-prefix KV branch with gradients, right-padded
completions, micro-batches) must give the same numbers to 1e-5 in fp32 and the same gradient.
"""

import pytest
import torch

from r1kit.train import forward as fwd
from r1kit.train.config import GRPORunConfig
from r1kit.train.forward import MIN_SHARED_PREFIX, completion_logprobs, logp_agreement
from r1kit.train.grpo import Batch, teacher_forced_logp

pytestmark = pytest.mark.usefixtures("one_thread")

PAD = 1
# Untied embeddings and a wide init: logits then depend strongly on every position and token, so
# a prefix one token off or a shifted gather changes logp by far more than the tolerance.
SHAPES = {"qwen2": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128),
          "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_inner=128),  # learned absolute positions
          "deepseek_v3": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, moe_intermediate_size=32,
                              n_routed_experts=4, q_lora_rank=32, kv_lora_rank=32)}  # MLA cache, MoE routing


@pytest.fixture(scope="module")
def models():
    from r1kit.models import build_model, build_tokenizer

    tok = build_tokenizer()
    return {arch: build_model(arch, "tiny", tok, seed=0, tie_word_embeddings=False, initializer_range=0.1,
                              **shape).eval() for arch, shape in SHAPES.items()}


def tokens(n: int, seed: int) -> list[int]:
    return torch.randint(5, 500, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def pack(prompts: list[list[int]], completions: list[list[int]]) -> tuple[torch.Tensor, ...]:
    """Left-padded prompts and right-padded completions, as the rollout returns them."""
    Lp, Lc = max(map(len, prompts)), max(map(len, completions))
    prompt_ids = torch.tensor([[PAD] * (Lp - len(p)) + p for p in prompts])                # (B, Lp)
    prompt_mask = torch.tensor([[0] * (Lp - len(p)) + [1] * len(p) for p in prompts])      # (B, Lp)
    completion_ids = torch.tensor([c + [PAD] * (Lc - len(c)) for c in completions])       # (B, Lc)
    completion_mask = torch.tensor([[1] * len(c) + [0] * (Lc - len(c)) for c in completions])
    return prompt_ids, prompt_mask, completion_ids, completion_mask


def reference_logp(model, prompts, completions, T: float) -> torch.Tensor:
    """(B, Lc): each row run alone, unpadded; log_softmax(logits / T) at its completion tokens; 0 past the end."""
    out = torch.zeros(len(prompts), max(map(len, completions)))
    for b, (p, c) in enumerate(zip(prompts, completions)):
        logits = model(input_ids=torch.tensor([p + c])).logits[0]                          # (|p|+|c|, V)
        pred = logits[len(p) - 1: len(p) + len(c) - 1].float() / T                          # predicts c
        out[b, :len(c)] = torch.log_softmax(pred, -1).gather(1, torch.tensor(c)[:, None]).squeeze(1)
    return out


def shared_prefix_rows():
    """GRPO-like rows: a 14-token template, then questions of different lengths, some repeated."""
    template = tokens(14, 0)
    questions = [tokens(3, 1), tokens(7, 2), tokens(1, 3), tokens(3, 1)]
    completions = [tokens(6, 10), tokens(2, 11), tokens(9, 12), tokens(1, 13)]
    return [template + q for q in questions], completions


def unshared_rows():
    prompts = [tokens(5, 20), tokens(11, 21), tokens(8, 22)]
    return prompts, [tokens(4, 30), tokens(7, 31), tokens(1, 32)]


def same_prompt_rows():
    """One prompt x 4 samples (the whole prompt shared: the prefix stops one token short of it)."""
    return [tokens(12, 40)] * 4, [tokens(5, 41), tokens(3, 42), tokens(5, 43), tokens(2, 44)]


def nested_prompt_rows():
    """One prompt is a proper prefix of another: the common prefix is capped at the shorter one minus 1."""
    base = tokens(10, 50)
    return [base, base + tokens(4, 51), base + tokens(2, 52)], [tokens(3, 53), tokens(5, 54), tokens(4, 55)]


CASES = {"shared": (shared_prefix_rows, True), "unshared": (unshared_rows, False),
         "same_prompt": (same_prompt_rows, True), "nested": (nested_prompt_rows, True)}


def spy_prefix(monkeypatch) -> list[int]:
    """Record the prefix length each prefix_shared_logits call gets."""
    seen, real = [], fwd.prefix_shared_logits

    def spy(model, ids, mask, prefix_len, keep):
        seen.append(prefix_len)
        return real(model, ids, mask, prefix_len, keep)

    monkeypatch.setattr(fwd, "prefix_shared_logits", spy)
    return seen


@pytest.mark.parametrize("arch", list(SHAPES))
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("T", [0.7, 1.0, 1.3])
def test_matches_a_plain_forward_of_each_row(models, arch, case, T, monkeypatch):
    model, (rows, shared) = models[arch], CASES[case]
    prompts, completions = rows()
    seen = spy_prefix(monkeypatch)
    pids, pmask, cids, cmask = pack(prompts, completions)
    with torch.no_grad():
        logp, entropy = completion_logprobs(model, pids, pmask, cids, cmask, T, with_entropy=True)
        ref = reference_logp(model, prompts, completions, T)
    assert (seen[0] >= MIN_SHARED_PREFIX) == shared, seen   # the branch this case is meant to exercise
    assert logp.dtype == torch.float32 and logp.shape == cids.shape and entropy.shape == cids.shape
    m = cmask.bool()
    assert (logp[m] - ref[m]).abs().max() < 1e-5
    assert ref[m].std() > 0.3   # sanity: the model is far from uniform, so a wrong position shows


@pytest.mark.parametrize("arch", list(SHAPES))
def test_micro_batches_agree_with_the_whole_batch(models, arch):
    """teacher_forced_logp splits rows into micro-batches; each slice has its own common prefix."""
    model = models[arch]
    p1, c1 = shared_prefix_rows()
    p2, c2 = same_prompt_rows()
    prompts, completions = p1 + p2, c1 + c2
    pids, pmask, cids, cmask = pack(prompts, completions)
    batch = Batch(pids, pmask, cids, cmask, torch.zeros(cids.shape), torch.zeros(len(prompts)), None)
    ref = reference_logp(model, prompts, completions, 0.7)
    cfg = GRPORunConfig()
    cfg.rollout.temperature = 0.7
    for micro in (0, 1, 3, 5):
        cfg.optim.micro_batch_size = micro
        logp = teacher_forced_logp(model, batch, cfg)
        assert torch.equal(logp[~cmask.bool()], torch.zeros(int((~cmask.bool()).sum())))
        assert (logp - ref).abs().max() < 1e-5, micro


def grads(model) -> torch.Tensor:
    out = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("arch", list(SHAPES))
def test_gradient_through_the_shared_prefix_equals_the_plain_forward(models, arch, monkeypatch):
    model = models[arch]
    prompts, completions = shared_prefix_rows()
    seen = spy_prefix(monkeypatch)
    pids, pmask, cids, cmask = pack(prompts, completions)
    weight = torch.linspace(0.5, 1.5, cids.numel()).view(cids.shape) * cmask              # (B, Lc)
    model.zero_grad(set_to_none=True)
    logp, _ = completion_logprobs(model, pids, pmask, cids, cmask, 1.3)
    (logp * weight).sum().backward()
    assert seen == [14]
    g_batched = grads(model)
    (reference_logp(model, prompts, completions, 1.3) * weight).sum().backward()
    g_plain = grads(model)
    assert g_plain.norm() > 0
    assert (g_batched - g_plain).norm() / g_plain.norm() < 1e-5


@pytest.mark.parametrize("arch", ["qwen2", "gpt2"])
def test_columns_padded_in_every_row_are_not_computed(models, arch, monkeypatch):
    """A micro-batch cut from a batch with longer rows: 3 prompt columns and 4 completion columns are padding
    in every row. The forward sees only the used width; logp and its gradient equal the tight batch's, 0 on the
    dropped columns."""
    model = models[arch]
    prompts, completions = shared_prefix_rows()
    pids, pmask, cids, cmask = pack(prompts, completions)
    wide = (torch.cat([torch.full((4, 3), PAD), pids], 1), torch.cat([torch.zeros(4, 3, dtype=torch.long), pmask], 1),
            torch.cat([cids, torch.full((4, 4), PAD)], 1), torch.cat([cmask, torch.zeros(4, 4, dtype=torch.long)], 1))
    widths, real = [], fwd.prefix_shared_logits
    monkeypatch.setattr(fwd, "prefix_shared_logits",
                        lambda model, ids, *a: widths.append(ids.shape[1]) or real(model, ids, *a))
    weight = torch.linspace(0.5, 1.5, cids.numel()).view(cids.shape) * cmask                  # (B, Lc)
    out = {}
    for name, batch in (("tight", (pids, pmask, cids, cmask)), ("wide", wide)):
        model.zero_grad(set_to_none=True)
        logp, entropy = completion_logprobs(model, *batch, 1.3, with_entropy=True)
        (logp[:, :cids.shape[1]] * weight).sum().backward()
        out[name] = logp, entropy, grads(model)
    assert widths == [pids.shape[1] + cids.shape[1]] * 2
    (logp, entropy, g), (tight, tight_entropy, g_tight) = out["wide"], out["tight"]
    assert logp.shape == entropy.shape == wide[2].shape
    assert torch.equal(logp[:, cids.shape[1]:], torch.zeros(4, 4)) and torch.equal(entropy[:, cids.shape[1]:], torch.zeros(4, 4))
    assert (logp[:, :cids.shape[1]] - tight).abs().max() < 1e-5
    assert (entropy[:, :cids.shape[1]] - tight_entropy).abs().max() < 1e-5
    assert (g - g_tight).norm() / g_tight.norm() < 1e-5


def test_logp_agreement_on_hand_values():
    rollout = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]])
    forward = torch.tensor([[-1.0, -2.5, 7.0], [-0.3, 9.0, 9.0]])    # masked positions are ignored
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = logp_agreement(rollout, forward, mask)
    assert out["logp_gap/max"] == pytest.approx(0.5)
    ratios = torch.tensor([1.0, torch.e ** -0.5, torch.e ** 0.2])
    assert out["ratio/rollout_vs_forward"] == pytest.approx(float(ratios.mean()))
