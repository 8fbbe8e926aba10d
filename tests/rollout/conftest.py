"""Tiny local fixtures for rollout tests: a byte-level BPE tokenizer and random Qwen2 / Llama / DeepseekV3.

Nothing is downloaded; every model is randomly initialised from a config (seeded), fp32, CPU.
"""

from __future__ import annotations

import pytest
import torch

CORPUS = [
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it.",
    "The assistant first thinks about the reasoning process <think> step by step </think>",
    "<answer> 12345 + 67890 = 80235 </answer> Hello world, the answer is 42.",
]
SPECIALS = ["<|endoftext|>", "<|pad|>", "<think>", "</think>", "<answer>", "</answer>"]


@pytest.fixture(scope="package", autouse=True)
def _single_thread(one_thread):
    """Every rollout test on one torch thread (tests/conftest.py)."""
    yield


@pytest.fixture(scope="session")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   additional_special_tokens=SPECIALS[2:])


def _build(config, seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = None  # tests set eos explicitly; the tokenizer's eos still counts
    return model.float().eval()


@pytest.fixture(scope="session")
def qwen2(tokenizer):
    from transformers import Qwen2Config

    return _build(Qwen2Config(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=384, vocab_size=len(tokenizer), max_position_embeddings=512))


@pytest.fixture(scope="session")
def llama(tokenizer):
    from transformers import LlamaConfig

    return _build(LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=128, vocab_size=len(tokenizer), max_position_embeddings=512))


@pytest.fixture(scope="session")
def deepseek_v3(tokenizer):
    from transformers import DeepseekV3Config

    config = DeepseekV3Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, intermediate_size=128,
        moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, n_group=1,
        topk_group=1, first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=32, qk_rope_head_dim=16,
        qk_nope_head_dim=16, v_head_dim=16, vocab_size=len(tokenizer), max_position_embeddings=512,
    )
    return _build(config)


@pytest.fixture(scope="session")
def prompts():
    """Prompts of different lengths (so they are left-padded), as strings."""
    return ["A conversation between User and Assistant.", "Hello", "<think> step by step </think> the answer"]



def teacher_forced_logits(model, prompt: list[int], completion: list[int]) -> torch.Tensor:
    """Logits (len(completion), V) that predicted each completion token: one uncached, unpadded forward."""
    ids = torch.tensor([prompt + completion])  # (1, Lp + Lc)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0].float()  # (Lp + Lc, V)
    return logits[len(prompt) - 1 : len(prompt) + len(completion) - 1]


def reference_logits(model, rollout) -> list[torch.Tensor]:
    """Per row, the teacher-forced logits (Lc_i, V) of its generated tokens (prompt padding and
    completion padding removed), computed without a KV cache."""
    out = []
    for i in range(rollout.prompt_ids.shape[0]):
        prompt = rollout.prompt_ids[i][rollout.prompt_mask[i].bool()].tolist()
        completion = rollout.completion_ids[i][rollout.completion_mask[i].bool()].tolist()
        out.append(teacher_forced_logits(model, prompt, completion))
    return out


@pytest.fixture(scope="session")
def reference():
    return reference_logits
