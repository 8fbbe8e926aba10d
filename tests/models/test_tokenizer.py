"""r1kit's BPE tokenizer: exact round trips, one token per digit, whole special tokens, the R1 chat template."""

import hashlib
import subprocess
import sys

import pytest

from r1kit.errors import R1kitError
from r1kit.models import SPECIAL_TOKENS, build_tokenizer

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {prompt}. Assistant:"
)

ROUND_TRIP = [
    "A conversation ... Assistant: <think>\n1+2=3\n</think> <answer>3</answer>",
    R1_ZERO.format(prompt="What is 12345 + 67890?")
    + " <think>\ndigit 1: 5+0+0=5, write 5 carry 0\n</think> <answer>80235</answer>",
    "<|User|>What is 2 + 3?<|Assistant|><think>\n2+3=5\n</think> <answer>5</answer><|endoftext|>",
    "  leading and trailing spaces  ",
    "tabs\tand\r\nwindows newlines\n\n\nand blank lines",
    "I'm sure it's [3, 5, 7] -> (3 * 7) + 5 - 2 = 24!",
    "unicode: héllo wörld — “quotes” ½ ² 一二三 😀",
    "tags glued<think>x</think>y<answer>z</answer>end",
    "<think><think></think></answer><|pad|>",
    "",
]


def test_vocab_size_and_special_ids(tokenizer):
    assert len(tokenizer) == 1024
    assert tokenizer.eos_token == tokenizer.bos_token == "<|endoftext|>"
    assert tokenizer.pad_token == "<|pad|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.padding_side == "left"


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_decode_encode_round_trips_exactly(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_no_bos_or_eos_is_added(tokenizer):
    ids = tokenizer.encode("hello")
    assert tokenizer.eos_token_id not in ids and tokenizer.pad_token_id not in ids


@pytest.mark.parametrize("special", SPECIAL_TOKENS)
def test_special_tokens_are_single_ids_in_any_context(tokenizer, special):
    sid = tokenizer.convert_tokens_to_ids(special)
    assert tokenizer.encode(special) == [sid]
    for before in ["", " ", "\n", "x", "x ", "x\n", "1", ". "]:
        for after in ["", " ", "\n", "y", "2"]:
            ids = tokenizer.encode(before + special + after)
            # The tag never absorbs its neighbours: the text around it encodes as it would alone.
            assert ids == tokenizer.encode(before) + [sid] + tokenizer.encode(after), (before, after)


def test_every_digit_is_its_own_token(tokenizer):
    text = "12345 + 67890 = 80235, 1000000 and 3.14159; x2 ab99"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer.encode(text))
    digit_tokens = [t for t in tokens if any(c.isdigit() for c in t)]
    assert "".join(digit_tokens) == "".join(c for c in text if c.isdigit())
    assert all(len(t) == 1 for t in digit_tokens)
    # No merge in the whole vocabulary can join a digit to anything.
    assert all(len(t) == 1 for t in tokenizer.get_vocab() if any(c in "0123456789" for c in t))


def test_template_words_are_whole_tokens(tokenizer):
    tokens = tokenizer.convert_ids_to_tokens(tokenizer.encode(R1_ZERO.format(prompt="What is 12345 + 67890?")))
    for word in ["conversation", "Assistant", "reasoning", "process", "enclosed", "respectively", "question"]:
        assert "Ġ" + word in tokens
    assert len(tokens) <= 100  # 97 with this build: the prompt prefix stays cheap


def test_build_is_deterministic_across_processes(tokenizer):
    here = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()
    code = (
        "import hashlib; from r1kit.models import build_tokenizer; "
        "print(hashlib.sha256(build_tokenizer().backend_tokenizer.to_str().encode()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == here


def test_custom_corpus_and_vocab_floor():
    small = build_tokenizer(["the cat sat on the mat"] * 10, vocab_size=300)
    assert 256 + len(SPECIAL_TOKENS) <= len(small) <= 300
    assert small.decode(small.encode("the mat <think>9</think>")) == "the mat <think>9</think>"
    with pytest.raises(R1kitError, match="vocab_size"):
        build_tokenizer(vocab_size=100)


# ---- chat template (DeepSeek-R1 style) ----

CONVERSATION = [
    {"role": "system", "content": "You are a careful solver."},
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "<think>\n2+3=5\n</think> <answer>5</answer>"},
    {"role": "user", "content": "And 5 + 5?"},
]


def test_chat_template_two_turns_with_system_and_earlier_reasoning(tokenizer):
    text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert text == (
        "You are a careful solver.<|User|>What is 2 + 3?<|Assistant|><answer>5</answer><|endoftext|>"
        "<|User|>And 5 + 5?<|Assistant|><think>\n"
    )


def test_chat_template_without_thinking_and_without_generation_prompt(tokenizer):
    no_think = tokenizer.apply_chat_template(CONVERSATION[1:2], tokenize=False, add_generation_prompt=True,
                                             enable_thinking=False)
    assert no_think == "<|User|>What is 2 + 3?<|Assistant|>"
    assert tokenizer.apply_chat_template(CONVERSATION[1:2], tokenize=False) == "<|User|>What is 2 + 3?"


def test_chat_template_keeps_reasoning_of_the_final_answer(tokenizer):
    final = {"role": "assistant", "content": "<think>\n5+5=10\n</think> <answer>10</answer>"}
    text = tokenizer.apply_chat_template(CONVERSATION + [final], tokenize=False)
    assert text.endswith("<|User|>And 5 + 5?<|Assistant|><think>\n5+5=10\n</think> <answer>10</answer><|endoftext|>")
    assert "2+3=5" not in text  # the earlier turn's reasoning is still dropped


def test_chat_prompt_ids_end_with_assistant_think_newline(tokenizer):
    ids = tokenizer.apply_chat_template(CONVERSATION[1:2], add_generation_prompt=True, return_dict=False)
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|User|>")
    assert ids[-3:] == [tokenizer.convert_tokens_to_ids("<|Assistant|>"), tokenizer.convert_tokens_to_ids("<think>"),
                        tokenizer.encode("\n")[0]]
