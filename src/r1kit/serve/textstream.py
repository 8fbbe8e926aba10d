"""Token ids -> text deltas for one streamed completion: detokenize, split reasoning, apply stop strings.

    out = ChoiceText(tokenizer, thinking=True, stop=["\\n\\nUser:"])
    for token_id in generated:                 # one id at a time, as the batcher hands them out
        reasoning, content = out.feed(token_id)
        if out.stopped: break                  # a stop string ended the content: cancel the stream
    reasoning, content = out.finish()          # whatever was held back

Three stages, each holding back only what it must:
- `IncrementalDetokenizer`: text is emitted only when the decoded tail is complete, so a multi-byte
  character split across byte-level tokens never shows up as U+FFFD halves. Special tokens (eos,
  pad, role markers) are dropped; the reasoning/answer tags are kept for the next stage.
- `ThinkSplitter`: the prompt ends inside "<think>\\n", so output is reasoning until "</think>",
  then content. A possible tag prefix ("</thi") is held back until it is decided; whitespace at both
  ends of the reasoning and at the start of the content is dropped (as DeepSeek's API returns them).
- `StopStringCutter`: OpenAI stop strings on the content (never the reasoning); the stop string itself
  is not returned, and a possible prefix of one is held back.

Not here: stop token ids, tool-call parsing; logprobs ride alongside (serve/logprobs.py, serve/generate.py).
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
KEEP_TAGS = ("<think>", "</think>", "<answer>", "</answer>")  # text, not control tokens
REPLACEMENT = "\ufffd"  # what a byte-level decode shows for an incomplete UTF-8 sequence


def hidden_token_ids(tokenizer) -> set[int]:
    """Ids never shown as text: the tokenizer's special tokens (eos, pad, bos, role markers).

    Added tokens flagged special count too (r1kit's tokenizer flags its tags special), except the
    think/answer tags, which the splitter needs to see.
    """
    hidden = set(getattr(tokenizer, "all_special_ids", []) or [])
    for token_id, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            hidden.add(token_id)
    keep = set(tokenizer.convert_tokens_to_ids(list(KEEP_TAGS))) - {None, getattr(tokenizer, "unk_token_id", None)}
    return hidden - keep


def held_prefix_len(text: str, needle: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `needle` (0 if none)."""
    for k in range(min(len(text), len(needle) - 1), 0, -1):
        if text.endswith(needle[:k]):
            return k
    return 0


class IncrementalDetokenizer:
    """Decode a growing list of ids into text deltas (the prefix/read-offset scheme of TGI and vLLM).

    The window ids[prefix:read] is decoded with and without the new ids; only the difference is new
    text. Decoding with that left context keeps tokenizers that drop a leading space on a lone token
    (SentencePiece) exact. A decode ending in U+FFFD is an incomplete character: wait for more ids.
    """

    def __init__(self, tokenizer, hidden: set[int] | None = None):
        self.tokenizer = tokenizer
        self.hidden = hidden_token_ids(tokenizer) if hidden is None else hidden
        self.ids: list[int] = []
        self.prefix = 0  # start of the context window
        self.read = 0  # ids before this have been emitted

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def add(self, token_id: int) -> str:
        if token_id in self.hidden:
            return ""
        self.ids.append(token_id)
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """The rest; an incomplete character at the very end (cut by max_tokens) is dropped."""
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        self.prefix = self.read = len(self.ids)
        return after[len(before) :].rstrip(REPLACEMENT) if len(after) > len(before) else ""


class ThinkSplitter:
    """Route text into (reasoning, content); see the module docstring for the whitespace rules."""

    def __init__(self, thinking: bool):
        self.in_reasoning = thinking
        self.started = False  # has the current part emitted anything (leading whitespace is dropped)
        self.buf = ""  # held-back text of the current part

    def add(self, text: str) -> tuple[str, str]:
        self.buf += text
        reasoning = ""
        if self.in_reasoning:
            if not self.started:
                self.buf = self.buf.lstrip()
                if THINK_OPEN.startswith(self.buf):  # the model re-opening the block: wait and see
                    return "", ""
                if self.buf.startswith(THINK_OPEN):
                    self.buf = self.buf[len(THINK_OPEN) :].lstrip()
            end = self.buf.find(THINK_CLOSE)
            if end == -1:
                hold = held_prefix_len(self.buf, THINK_CLOSE)
                body = self.buf[: len(self.buf) - hold]
                keep = len(body.rstrip())  # trailing whitespace waits: it may precede </think>
                reasoning, self.buf = body[:keep], body[keep:] + self.buf[len(body) :]
                self.started = self.started or bool(reasoning)
                return reasoning, ""
            reasoning = self.buf[:end].rstrip()
            self.buf = self.buf[end + len(THINK_CLOSE) :]
            self.in_reasoning, self.started = False, False
        return reasoning, self._content()

    def _content(self) -> str:
        if not self.started:
            self.buf = self.buf.lstrip()
            self.started = bool(self.buf)
        out, self.buf = self.buf, ""
        return out

    def flush(self) -> tuple[str, str]:
        """End of output: held text goes out (an unclosed block is all reasoning)."""
        out, self.buf = self.buf, ""
        if self.in_reasoning:
            return ("" if THINK_OPEN.startswith(out.strip()) else out.rstrip()), ""
        return "", out if self.started else out.lstrip()


class StopStringCutter:
    """Cut streamed text at the first occurrence of any stop string, which is dropped (OpenAI's `stop`);
    possible partial matches are held back. rollout/stopping.py's StopStringFinder is the rollout
    counterpart, which keeps the stop string."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.stopped = False

    def add(self, text: str) -> str:
        if self.stopped or not self.stops:
            return "" if self.stopped else text
        self.buf += text
        hits = [i for i in (self.buf.find(s) for s in self.stops) if i != -1]
        if hits:
            out, self.buf, self.stopped = self.buf[: min(hits)], "", True
            return out
        hold = max(held_prefix_len(self.buf, s) for s in self.stops)
        out, self.buf = self.buf[: len(self.buf) - hold], self.buf[len(self.buf) - hold :]
        return out

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return "" if self.stopped else out


class ChoiceText:
    """The whole pipeline for one choice, with the token counts usage needs.

    thinking=None: a plain completion (no split, no whitespace rules: the text as generated).
    reasoning_tokens counts generated ids up to and including the one that completed "</think>".
    text_chars counts the characters decoded so far, before the split and the stop strings: in a plain
    completion, where the next token's text will start (its OpenAI `text_offset`).
    """

    def __init__(self, tokenizer, thinking: bool | None, stop: list[str], hidden: set[int] | None = None):
        self.detok = IncrementalDetokenizer(tokenizer, hidden)
        self.splitter = ThinkSplitter(thinking) if thinking is not None else None
        self.stop = StopStringCutter(stop)
        self.completion_tokens = 0
        self.reasoning_tokens = 0
        self.text_chars = 0

    @property
    def stopped(self) -> bool:
        return self.stop.stopped

    def _route(self, text: str) -> tuple[str, str]:
        if self.splitter is None:
            return "", self.stop.add(text)
        reasoning, content = self.splitter.add(text)
        return reasoning, self.stop.add(content)

    def feed(self, token_id: int) -> tuple[str, str]:
        """(reasoning delta, content delta) after one generated id; ("", "") once stopped."""
        if self.stopped:
            return "", ""
        self.completion_tokens += 1
        if self.splitter is not None and self.splitter.in_reasoning:
            self.reasoning_tokens += 1
        text = self.detok.add(token_id)
        self.text_chars += len(text)
        return self._route(text)

    def finish(self) -> tuple[str, str]:
        """Everything still held back, once the stream has ended."""
        if self.stopped:
            return "", ""
        reasoning, content = self._route(self.detok.flush())
        if self.splitter is not None:
            r, c = self.splitter.flush()
            reasoning, content = reasoning + r, content + self.stop.add(c)
        return reasoning, content + self.stop.flush()
