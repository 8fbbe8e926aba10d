"""Token logprobs for the API: computed by the batcher for the rows that ask, shaped as OpenAI's.

    entries = row_logprobs(logits, T, logp, ks)      # batcher, per sampling group: TokenLogprobs | None per row
    texts = TokenTexts(tokenizer)                    # token id -> (string, UTF-8 bytes), cached
    chat_logprobs(texts, tokens)        # {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}
    completion_logprobs(texts, tokens)  # {"tokens", "token_logprobs", "top_logprobs", "text_offset"}

What a logprob is: log_softmax(logits / T) at the token (T = 0, greedy: log_softmax(logits)), the
distribution *before* top-p truncation -- the same number the rollout engine records as `logp` for
training (rollout/sampling.py), so rollouts drawn from a server can feed the GRPO ratio. The top
alternatives are the k most likely tokens of that same distribution, most likely first.

Which tokens: every token generated for the choice, in order, up to and including the one that ended
it -- the eos token (as its special-token text, e.g. "<|endoftext|>") or the token that completed a
stop string -- so there are usage.completion_tokens of them, as in a rollout's completion_ids. In chat,
reasoning tokens are included: `logprobs.content` covers the whole generation, think block first
(OpenAI-compatible reasoning servers differ here; this is the choice a trainer needs). Streamed chunks
carry the logprobs of the tokens generated since the previous chunk; concatenated they equal the
non-streamed list.

Token names: by default a token is named by its text. With `return_tokens_as_token_ids: true` (vLLM's
field) every token -- sampled and alternatives, in `tokens`, `top_logprobs` and chat's `token` -- is named
"token_id:<id>" instead (vLLM's format), so a trainer reads the exact ids back even where a byte-level
token's text is not a whole character. The request's k then travels as `AsTokenIds(k)`, an int that
marks its rows (through the batcher's Request.logprobs into each TokenLogprobs.as_ids).
"""

from __future__ import annotations

from typing import NamedTuple

MAX_TOP_LOGPROBS = 20  # chat's top_logprobs, as OpenAI
MAX_COMPLETION_LOGPROBS = 5  # /v1/completions' logprobs, as OpenAI


class AsTokenIds(int):
    """k alternatives (an int, as Request.logprobs), for a request that names tokens "token_id:<id>"."""

    def __repr__(self) -> str:
        return f"AsTokenIds({int(self)})"


class TokenLogprobs(NamedTuple):
    """One generated token's logprobs, as the batcher hands them to a stream."""

    logprob: float  # the sampled token's
    top: tuple[tuple[int, float], ...]  # the k most likely (token id, logprob), descending
    as_ids: bool = False  # name the tokens "token_id:<id>" (return_tokens_as_token_ids)


class Token(NamedTuple):
    """A generated token with its logprobs and, for completions, where its text starts in the choice's text."""

    id: int
    logprobs: TokenLogprobs
    offset: int


def row_logprobs(logits, temperature: float, logp, ks: list[int | None]) -> list[TokenLogprobs | None]:
    """One sampling group's logprobs. logits: (G, V) the group's next-token logits; logp: (G,) the
    sampled tokens' logprobs (from sample_tokens); ks: each row's number of alternatives, None for a
    row that did not ask (it costs nothing: no top-k, no transfer)."""
    import torch

    from r1kit.rollout.sampling import top_logprobs

    out: list[TokenLogprobs | None] = [None] * len(ks)
    ask = [j for j, k in enumerate(ks) if k is not None]
    if not ask:
        return out
    rows = torch.tensor(ask, device=logits.device)  # (S,)
    k_max = max(ks[j] for j in ask)
    top_lp, top_ids = [[] for _ in ask], [[] for _ in ask]
    if k_max:
        values, ids = top_logprobs(logits[rows], temperature, k_max)  # (S, k_max), (S, k_max)
        top_lp, top_ids = values.tolist(), ids.tolist()
    sampled = logp[rows].tolist()
    for n, j in enumerate(ask):
        out[j] = TokenLogprobs(sampled[n], tuple(zip(top_ids[n][: ks[j]], top_lp[n][: ks[j]])),
                               isinstance(ks[j], AsTokenIds))
    return out


def _byte_alphabet() -> dict[str, int]:
    """char -> byte of the byte-level BPE alphabet (GPT-2's): the printable bytes stand for themselves,
    the other 68 (controls, space, ...) for chr(256 + n) in byte order."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = [b for b in range(256) if b not in set(printable)]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + n): b for n, b in enumerate(shifted)})
    return table


class TokenTexts:
    """Token id -> (its text, its UTF-8 bytes), cached. A byte-level BPE token may hold part of a
    character: its text then shows U+FFFD, but its bytes are the real ones (read from the byte-level
    alphabet), so a client can join the bytes of consecutive tokens into the exact text."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
        self.alphabet = _byte_alphabet() if type(decoder).__name__ == "ByteLevel" else None
        self.added = set(getattr(tokenizer, "added_tokens_decoder", None) or {})
        self._cache: dict[int, tuple[str, list[int]]] = {}

    def __call__(self, token_id: int) -> tuple[str, list[int]]:
        hit = self._cache.get(token_id)
        if hit is None:
            text = self.tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            raw = text.encode("utf-8", "replace")
            if self.alphabet is not None and token_id not in self.added:
                piece = self.tokenizer.convert_ids_to_tokens(token_id)
                if isinstance(piece, str) and piece and all(c in self.alphabet for c in piece):
                    raw = bytes(self.alphabet[c] for c in piece)
            hit = self._cache[token_id] = (text, list(raw))
        return hit


def token_name(texts: TokenTexts, token_id: int, as_ids: bool) -> str:
    """A token as the response names it: its text, or "token_id:<id>" (vLLM's return_tokens_as_token_ids)."""
    return f"token_id:{token_id}" if as_ids else texts(token_id)[0]


def _chat_entry(texts: TokenTexts, token_id: int, logprob: float, as_ids: bool = False) -> dict:
    text, raw = texts(token_id)
    return {"token": f"token_id:{token_id}" if as_ids else text, "logprob": logprob, "bytes": raw}


def chat_logprobs(texts: TokenTexts, tokens: list[Token]) -> dict:
    """OpenAI chat's `logprobs` object: {"content": [{token, logprob, bytes, top_logprobs}, ...]}."""
    content = []
    for t in tokens:
        as_ids = t.logprobs.as_ids
        entry = _chat_entry(texts, t.id, t.logprobs.logprob, as_ids)
        entry["top_logprobs"] = [_chat_entry(texts, i, lp, as_ids) for i, lp in t.logprobs.top]
        content.append(entry)
    return {"content": content, "refusal": None}


def completion_logprobs(texts: TokenTexts, tokens: list[Token]) -> dict:
    """OpenAI completions' `logprobs` object. top_logprobs[i] maps token text -> logprob for the k most
    likely tokens plus the sampled one (so up to k + 1 entries, as OpenAI); two ids with the same text
    keep the higher logprob. text_offset[i]: where token i's text starts in the choice's text. Tokens
    asked for as ids (AsTokenIds) are named "token_id:<id>" in `tokens` and as `top_logprobs` keys."""
    strings, tops = [], []
    for t in tokens:
        top: dict[str, float] = {}
        for i, lp in t.logprobs.top:
            top.setdefault(token_name(texts, i, t.logprobs.as_ids), lp)
        top.setdefault(token_name(texts, t.id, t.logprobs.as_ids), t.logprobs.logprob)
        strings.append(token_name(texts, t.id, t.logprobs.as_ids))
        tops.append(top)
    return {"tokens": strings, "token_logprobs": [t.logprobs.logprob for t in tokens], "top_logprobs": tops,
            "text_offset": [t.offset for t in tokens]}


class PendingLogprobs:
    """One choice's token logprobs waiting to go out with its text (each event carries those released).

    by_offset=False (chat): all of them go with the next text event. by_offset=True (completions): a
    token goes once the text before it has gone (text_offset <= characters sent), so one whose text is
    held back (it may start a stop string) waits with it. `rest` releases the others at the end, with
    offsets past a stop-string cut clamped to the text's length.
    """

    def __init__(self, by_offset: bool):
        self.by_offset = by_offset
        self.count = 0  # tokens added so far (the index of the next one in Stream.logprobs)
        self.sent = 0  # characters of text released so far
        self._tokens: list[Token] = []

    def add(self, token_id: int, logprobs: TokenLogprobs, offset: int) -> None:
        self._tokens.append(Token(token_id, logprobs, offset))
        self.count += 1

    def release(self, text: str) -> tuple[Token, ...]:
        """The tokens that go out with `text`, the next text sent."""
        self.sent += len(text)
        n = len(self._tokens)
        if self.by_offset:
            n = next((j for j, t in enumerate(self._tokens) if t.offset > self.sent), n)
        out, self._tokens = self._tokens[:n], self._tokens[n:]
        return tuple(out)

    def rest(self) -> tuple[Token, ...]:
        out, self._tokens = self._tokens, []
        return tuple(t._replace(offset=min(t.offset, self.sent)) for t in out)
