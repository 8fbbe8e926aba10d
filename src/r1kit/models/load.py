"""Load a causal LM and its tokenizer from a local directory or a Hugging Face hub name.

    model = load_model("runs/base")                        # a directory written by new_model / save_pretrained
    model = load_model("Qwen/Qwen2.5-Math-1.5B", dtype="bfloat16", device="cuda")
    tokenizer = load_tokenizer("runs/base")                # pad token set, padding_side="left"

Both go through AutoModelForCausalLM / AutoTokenizer, so anything transformers loads works.
User mistakes become one-line `R1kitError`s instead of transformers' long tracebacks: a local-
looking path that is not a model directory, an unknown dtype, a hub name that cannot be fetched.
"""

import os
from pathlib import Path

from r1kit.errors import R1kitError

DTYPES = ("float32", "bfloat16", "float16", "auto")


def _looks_local(name: str) -> bool:
    """True when `name` is meant as a filesystem path rather than a hub id like "org/model".

    Absolute, ./, ../ and ~ paths are local; so is anything that exists, and a relative path
    whose first component exists ("runs/base" when ./runs exists).
    """
    if name.startswith(("/", ".", "~")) or os.path.exists(name):
        return True
    first = name.split(os.sep, 1)[0]
    return os.sep in name and os.path.exists(first)


def _local_dir(name: str | os.PathLike, required: tuple[str, ...]) -> str | None:
    """The local directory for `name` (None for a hub id); R1kitError if it is not a model dir.

    A Path object is always local. required: file names of which at least one must be present.
    """
    if not isinstance(name, os.PathLike) and not _looks_local(name):
        return None
    path = Path(name).expanduser()
    if not path.is_dir():
        raise R1kitError(f"model path not found: {name}")
    if not any((path / f).is_file() for f in required):
        raise R1kitError(f"model path not found: {name} (a directory, but without {' or '.join(required)})")
    return str(path)


def _one_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def load_model(name_or_path: str | os.PathLike, *, dtype: str = "float32", device: str = "cpu"):
    """An AutoModelForCausalLM from a local directory (str or Path) or hub name, in `dtype`, on `device`.

    dtype: one of DTYPES; "auto" keeps the checkpoint's own dtype. Returned in eval mode (as
    from_pretrained leaves it); call .train() to train.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-load "Loading weights" bars drown the training log
    if dtype not in DTYPES:
        raise R1kitError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    path = _local_dir(name_or_path, ("config.json",))
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(path or name_or_path, dtype=torch_dtype)
    except (OSError, ValueError, KeyError) as e:  # offline / unknown repo / unsupported architecture
        raise R1kitError(f"could not load model {name_or_path!r}: {_one_line(e)}") from None
    return model.to(device)


def load_tokenizer(name_or_path: str | os.PathLike):
    """An AutoTokenizer for a local directory or hub name, ready for batched generation.

    Sets padding_side="left" (prompts are left-padded so generation continues from the right
    edge) and a pad token, falling back to eos when the tokenizer has none.
    """
    from transformers import AutoTokenizer

    path = _local_dir(name_or_path, ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path or name_or_path)
    except (OSError, ValueError, KeyError) as e:
        raise R1kitError(f"could not load tokenizer {name_or_path!r}: {_one_line(e)}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise R1kitError(f"tokenizer {name_or_path!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
