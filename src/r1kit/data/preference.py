"""Preference pairs for a reward model: JSONL rows with a prompt and a chosen and a rejected response.

    pairs = load_preferences("prefs.jsonl", split="train")        # held-out rows: split="test"

A row is one of
    {"prompt": "What is 2+3?", "chosen": "5", "rejected": "6"}                     plain strings
    {"prompt": [{"role": "user", "content": ...}], "chosen": "...", "rejected": "..."}   the prompt as chat
    {"chosen": [msgs..., {"role": "assistant", ...}], "rejected": [msgs..., {...}]}  whole conversations;
                                                   the prompt is everything before the last assistant turn
                                                   (which must be the same in both), the response that turn
The reward model judges only the final answer (issue 10): a response's reasoning, up to the last
</think>, is cut off here (`split_reasoning`), so training sees what the `reward_model` reward scores.
A row without a chosen or a rejected response (unpaired), or of the wrong shape, is an R1kitError
naming the stage ("rm"), the file and the line. Train and test split by a hash of the normalised prompt
(`split_of(problem_key(...))`, as the tasks do), so a prompt never sits on both sides.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from r1kit.data.base import problem_key, split_of
from r1kit.data.templates import split_reasoning
from r1kit.errors import R1kitError


@dataclass(frozen=True)
class PreferencePair:
    """One judged pair. `prompt` is the conversation before the response (chat messages)."""

    id: str
    prompt: tuple[dict, ...]
    chosen: str      # the preferred response's final part (reasoning removed)
    rejected: str    # the other response's final part

    @property
    def prompt_text(self) -> str:
        """The prompt's turns joined; what the held-out split hashes."""
        return "\n".join(m["content"] for m in self.prompt)


def load_preferences(path: str | Path, split: str = "all", test_fraction: float = 0.1,
                     stage: str = "rm") -> list[PreferencePair]:
    """The pairs of `split` ("train", "test" or "all") in file order. R1kitError on any bad row."""
    if split not in ("train", "test", "all"):
        raise R1kitError(f"{stage}: unknown split {split!r}: use train, test or all")
    path = Path(path)
    if not path.is_file():
        raise R1kitError(f"{stage}: preference file not found: {path}")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise R1kitError(f"{stage}: {path} line {n}: not valid JSON") from None
        try:
            pair = parse_pair(row, f"{path.stem}-{n:06d}")
        except ValueError as e:
            raise R1kitError(f"{stage}: {path} line {n}: {e}") from None
        if split == "all" or split_of(problem_key(pair.prompt_text), test_fraction) == split:
            pairs.append(pair)
    if not pairs:
        raise R1kitError(f"{stage}: {path} has no {'' if split == 'all' else split + ' '}preference pairs")
    return pairs


def parse_pair(row, pair_id: str) -> PreferencePair:
    """One row as a PreferencePair; ValueError (one line) saying what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("a row must be a JSON object")
    missing = [k for k in ("chosen", "rejected") if row.get(k) in (None, "", [])]
    if missing:
        raise ValueError(f"unpaired row: no {' and no '.join(missing)} response (each row needs chosen and rejected)")
    chosen_ctx, chosen = _response(row["chosen"], "chosen")
    rejected_ctx, rejected = _response(row["rejected"], "rejected")
    if chosen_ctx != rejected_ctx:
        raise ValueError("chosen and rejected conversations differ before their last assistant turn")
    if "prompt" in row:
        prompt = _messages(row["prompt"], "prompt", as_user=True)
    elif chosen_ctx:
        prompt = chosen_ctx
    else:
        raise ValueError("no prompt (give a 'prompt' field or chosen/rejected as whole conversations)")
    return PreferencePair(pair_id, prompt, _final(chosen, "chosen"), _final(rejected, "rejected"))


def _response(value, key: str) -> tuple[tuple[dict, ...], str]:
    """(conversation before the response, response text) of a chosen/rejected field."""
    if isinstance(value, str):
        return (), value
    messages = _messages(value, key)
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"{key}: the last message must be the assistant's response")
    return messages[:-1], messages[-1]["content"]


def _messages(value, key: str, as_user: bool = False) -> tuple[dict, ...]:
    if isinstance(value, str) and as_user:
        return ({"role": "user", "content": value},)
    ok = isinstance(value, list) and value and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value)
    if not ok:
        raise ValueError(f"{key} must be a string or a list of {{role, content}} messages")
    return tuple({"role": m["role"], "content": m["content"]} for m in value)


def _final(response: str, key: str) -> str:
    _, final = split_reasoning(response)
    if final is None:
        raise ValueError(f"{key}: the reasoning block is never closed (no </think>), so there is no answer to judge")
    return final


def toy_pairs(n: int, seed: int = 0) -> list[dict]:
    """`n` rows of a separable toy set: "What is a + b?", chosen "<think>…</think> a+b" (the right sum),
    rejected "<think>…</think> I am not sure." For tests and the tiny recipe; write them with json.dumps."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        think = f"<think>{a} plus {b}</think> "
        rows.append({"prompt": f"What is {a} + {b}?", "chosen": think + str(a + b),
                     "rejected": think + "I am not sure."})
    return rows


def toy_preferences(n: int, split: str = "all", test_fraction: float = 0.1, seed: int = 0) -> list[PreferencePair]:
    """The toy rows of `toy_pairs` as PreferencePairs of `split`, held out by prompt hash like a file."""
    pairs = [parse_pair(row, f"toy-{i:06d}") for i, row in enumerate(toy_pairs(n, seed))]
    return [p for p in pairs if split == "all" or split_of(problem_key(p.prompt_text), test_fraction) == split]
