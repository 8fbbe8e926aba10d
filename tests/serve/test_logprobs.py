"""Token logprobs in the API (serve/logprobs.py): the pieces by hand, then OpenAI's shapes through a live
server over the scripted batcher, streamed and not. The values against the real model: test_tiny_model.py."""

import math

import httpx
import pytest
import torch

from r1kit.serve.logprobs import (PendingLogprobs, Token, TokenLogprobs, TokenTexts, chat_logprobs,
                                  completion_logprobs, row_logprobs)
from tests.serve.conftest import MODEL

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]


# ---- the pieces ----
def test_token_bytes_rebuild_the_exact_text_even_when_a_token_splits_a_character(tokenizer):
    texts = TokenTexts(tokenizer)
    text = "Héllo 世界 😀 <think>x</think>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    pieces = [texts(i) for i in ids]
    assert b"".join(bytes(raw) for _, raw in pieces) == text.encode("utf-8")
    assert any("\ufffd" in s for s, _ in pieces)  # a partial character shows U+FFFD as text, not as bytes
    assert texts(tokenizer.eos_token_id) == ("<|endoftext|>", list(b"<|endoftext|>"))
    assert texts(tokenizer.convert_tokens_to_ids("Ġ")) == (" ", [32])  # the byte-level alphabet's space


def test_row_logprobs_only_for_rows_that_ask():
    logits = torch.tensor([[1.0, 2.0, 5.0, 2.0]]).log().expand(3, -1)  # probs 0.1, 0.2, 0.5, 0.2
    logp = torch.log(torch.tensor([0.5, 0.1, 0.2]))  # the sampled tokens' (2, 0, 1)
    none, zero, two = row_logprobs(logits, 1.0, logp, [None, 0, 2])
    assert none is None and zero == TokenLogprobs(pytest.approx(math.log(0.1)), ())
    assert two.logprob == pytest.approx(math.log(0.2))
    assert two.top[0] == (2, pytest.approx(math.log(0.5))) and two.top[1][1] == pytest.approx(math.log(0.2))
    assert row_logprobs(logits, 1.0, logp, [None] * 3) == [None] * 3


def test_pending_logprobs_wait_for_their_text():
    lp = TokenLogprobs(-1.0, ())
    chat = PendingLogprobs(by_offset=False)
    chat.add(5, lp, 0), chat.add(6, lp, 3)
    assert [t.id for t in chat.release("a")] == [5, 6] and chat.rest() == () and chat.count == 2
    text = PendingLogprobs(by_offset=True)  # tokens "ab", "c", "d" with "c" + "d" held back (a stop string "cde"?)
    for token_id, offset in [(1, 0), (2, 2), (3, 3)]:
        text.add(token_id, lp, offset)
    assert [t.id for t in text.release("ab")] == [1, 2]  # "c" starts where the text sent ends
    assert text.release("") == ()
    assert text.rest() == (Token(3, lp, 2),)  # the stop string cut the text at 2: the offset is clamped


def test_completion_top_logprobs_add_the_sampled_token(tokenizer):
    texts = TokenTexts(tokenizer)
    a, b, c = (tokenizer.convert_tokens_to_ids(t) for t in ("a", "b", "c"))
    tokens = [Token(c, TokenLogprobs(-3.0, ((a, -0.5), (b, -1.0))), 0), Token(a, TokenLogprobs(-0.7, ((a, -0.7),)), 1)]
    assert completion_logprobs(texts, tokens) == {
        "tokens": ["c", "a"], "token_logprobs": [-3.0, -0.7],
        "top_logprobs": [{"a": -0.5, "b": -1.0, "c": -3.0}, {"a": -0.7}], "text_offset": [0, 1]}
    assert chat_logprobs(texts, tokens[1:]) == {"refusal": None, "content": [
        {"token": "a", "logprob": -0.7, "bytes": [97],
         "top_logprobs": [{"token": "a", "logprob": -0.7, "bytes": [97]}]}]}


# ---- through the server (scripted batcher: logprob -0.1 * (position + 1), the sampled token ranked first) ----
def chat(served, **kw):
    return served.client().chat.completions.create(model=MODEL, messages=CHAT, **kw)


def streamed_chat_logprobs(served, **kw) -> list[list[dict]]:
    per_choice: dict[int, list] = {}
    for chunk in chat(served, stream=True, **kw):
        for choice in chunk.choices:
            if choice.logprobs is not None:
                per_choice.setdefault(choice.index, []).extend(e.model_dump() for e in choice.logprobs.content)
    return [per_choice[i] for i in sorted(per_choice)]


def test_chat_logprobs_cover_every_generated_token(served, tokenizer):
    resp = chat(served, logprobs=True, top_logprobs=3, n=2)
    assert served.fake.requests[-1].logprobs == 3
    script_ids = served.fake.script_ids([0])
    for choice in resp.choices:
        content = choice.logprobs.content
        assert len(content) == len(script_ids) == resp.usage.completion_tokens // 2  # reasoning, answer and eos
        assert [e.logprob for e in content] == pytest.approx([-0.1 * (i + 1) for i in range(len(content))])
        assert b"".join(bytes(e.bytes) for e in content) == tokenizer.decode(script_ids).encode()
        assert all(len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token for e in content)
        assert content[-1].token == "<|endoftext|>"
    assert streamed_chat_logprobs(served, logprobs=True, top_logprobs=3, n=2) == [
        [e.model_dump() for e in c.logprobs.content] for c in resp.choices]


def test_chat_logprobs_default_to_no_alternatives_and_cost_nothing_unasked(served):
    resp = chat(served, logprobs=True)
    assert served.fake.requests[-1].logprobs == 0
    assert all(e.top_logprobs == [] for e in resp.choices[0].logprobs.content)
    resp = chat(served)
    assert served.fake.requests[-1].logprobs is None and resp.choices[0].logprobs is None
    raw = httpx.post(f"{served.url}/v1/chat/completions", json={"messages": CHAT, "stream": True}).text
    assert '"logprobs":{' not in raw


def test_chat_logprobs_with_a_stop_string_end_at_the_token_that_completed_it(served):
    served.fake.script = ["why", "</think>", "The ans", "wer E", "ND is here"]
    resp = chat(served, logprobs=True, stop="END")
    assert resp.choices[0].message.content == "The answer "
    tokens = [e.token for e in resp.choices[0].logprobs.content]
    assert len(tokens) == resp.usage.completion_tokens and "".join(tokens).endswith("wer END")


def completion(served, **kw):
    return served.client().completions.create(model=MODEL, prompt="Once", **kw)


@pytest.mark.parametrize("stop", [None, "STOP"])
def test_completion_logprobs_and_text_offsets(served, stop):
    served.fake.script = ["Once upon a time STOP there was", " a king."]
    resp = completion(served, logprobs=2, stop=stop)
    (choice,) = resp.choices
    lp = choice.logprobs
    text = choice.text
    assert text == ("Once upon a time " if stop else "Once upon a time STOP there was a king.")
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) == resp.usage.completion_tokens
    joined = "".join(lp.tokens)
    assert joined.startswith(text)
    if stop is None:
        assert joined == text + "<|endoftext|>"
    assert lp.text_offset == [min(len("".join(lp.tokens[:i])), len(text)) for i in range(len(lp.tokens))]
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert top[token] == logprob and 1 <= len(top) <= 3
    chunks = list(completion(served, logprobs=2, stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == text
    for field in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
        assert [x for c in chunks if c.choices[0].logprobs for x in getattr(c.choices[0].logprobs, field)] == \
            getattr(lp, field)
