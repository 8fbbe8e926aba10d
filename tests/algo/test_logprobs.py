import torch

from r1kit.algo import token_entropy, token_logprobs


def test_token_logprobs_matches_log_softmax_at_temperature():
    logits = torch.randn(2, 3, 11)
    tokens = torch.randint(0, 11, (2, 3))
    for t in (1.0, 0.6):
        ref = torch.log_softmax(logits / t, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(token_logprobs(logits, tokens, t), ref, atol=1e-6)


def test_entropy_uniform_and_peaked():
    assert torch.allclose(token_entropy(torch.zeros(1, 1, 8)), torch.log(torch.tensor(8.0)))
    peaked = torch.tensor([[[100.0, 0.0, 0.0]]])
    assert token_entropy(peaked).item() < 1e-6
