"""When a completion ends: an eos token id, or a stop string in the decoded completion.

Stop strings are checked incrementally, after each step, on the decoded *tail* (last `window`
tokens) of only those rows whose new token could complete a stop string: a token can do so only
if its own text contains the last character of a stop string (or is a partial UTF-8 byte, or a
stop string ends in whitespace, which tokenizers may hide -- then every row is checked).
That table is computed once per (tokenizer, stop strings) over the whole vocabulary.
"""

from __future__ import annotations

import torch


def eos_token_ids(model, tokenizer) -> list[int]:
    """The tokenizer's eos id plus every eos id of the model's generation_config (int or list)."""
    ids = []
    for value in (getattr(tokenizer, "eos_token_id", None), _generation_eos(model)):
        if value is None:
            continue
        ids.extend(value if isinstance(value, (list, tuple)) else [value])
    return sorted({int(i) for i in ids})


def _generation_eos(model):
    config = getattr(model, "generation_config", None)
    return getattr(config, "eos_token_id", None) if config is not None else None


class StopStringFinder:
    """Finds the rows whose completion now contains one of `stop`; the row ends there, the stop string and
    the token that completes it stay in the completion (serve/textstream.py's StopStringCutter is the
    streaming-text counterpart, which drops the stop string)."""

    def __init__(self, tokenizer, stop: tuple[str, ...], vocab_size: int, device: torch.device) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.window = max(len(s) for s in stop) + 4  # a stop string of c chars spans <= c tokens
        self.candidate = _candidate_table(tokenizer, stop, vocab_size).to(device)  # (V,) bool

    def match(self, out_ids: torch.Tensor, rows: torch.Tensor, t: int, tokens: torch.Tensor,
              alive: torch.Tensor) -> torch.Tensor:
        """out_ids: (B, N) completions so far, step t just written; rows/tokens/alive: (A,).  Returns (A,) bool."""
        hit = torch.zeros_like(alive)  # (A,)
        check = (alive & self.candidate[tokens]).nonzero().squeeze(1)  # (C,) positions among active rows
        if check.numel() == 0:
            return hit
        lo = max(0, t + 1 - self.window)
        tails = out_ids[rows[check], lo : t + 1].tolist()  # one transfer for all checked rows
        texts = self.tokenizer.batch_decode(tails, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        found = [any(s in text for s in self.stop) for text in texts]
        hit[check] = torch.tensor(found, dtype=torch.bool, device=hit.device)
        return hit


def _candidate_table(tokenizer, stop: tuple[str, ...], vocab_size: int) -> torch.Tensor:
    """(V,) bool: token v, decoded alone, could end a stop string."""
    table = torch.ones(vocab_size, dtype=torch.bool)  # (V,) ids past the tokenizer stay candidates
    if any(s[-1].isspace() for s in stop):
        return table
    n = min(vocab_size, len(tokenizer))
    pieces = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False,
                                    clean_up_tokenization_spaces=False)
    last_chars = {s[-1] for s in stop}
    table[:n] = torch.tensor([("\ufffd" in p) or any(c in p for c in last_chars) for p in pieces])
    return table
