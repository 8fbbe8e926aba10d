"""A small byte-level BPE tokenizer for r1kit's tiny models, trained locally in well under a second.

    tok = build_tokenizer()                    # default corpus (see corpus.py), vocab 1024
    tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}],
                            tokenize=False, add_generation_prompt=True)
    # -> "<|User|>What is 2 + 3?<|Assistant|><think>\n"

Design:
- Digits are split one per token before byte-level BPE (Qwen2's pre-tokenizer, which the R1
  distilled models use), so a model sees every digit of a number at its own position.
- The special tokens are whole tokens that never merge with their neighbours: `<think>` is the
  same id after a space, a newline or a letter, and `decode(encode(s)) == s` holds exactly for
  NFC-normalised text (no prefix space, no clean-up of spaces around punctuation).
- No BOS is added by the tokenizer or the chat template; `<|endoftext|>` ends every assistant turn.

The chat template follows DeepSeek-R1's (tokenizer_config.json of deepseek-ai/DeepSeek-R1):
system text first, `<|User|>`/`<|Assistant|>` turns, earlier reasoning dropped from history, and
a generation prompt that opens `<think>\\n`. It omits R1's BOS and tool calls.
"""

from collections.abc import Iterable

from r1kit.errors import R1kitError

EOS_TOKEN = "<|endoftext|>"  # also the BOS token
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (EOS_TOKEN, PAD_TOKEN, "<think>", "</think>", "<answer>", "</answer>", "<|User|>", "<|Assistant|>")

# Roles: system messages are joined by a blank line and written before the first user turn
# (R1 renders them right after BOS). The reasoning of an assistant turn that precedes the last
# user message is dropped, as R1 does for multi-turn history; the turns after it (the ones a
# model is trained on, or is continuing) keep their `<think>` part. `enable_thinking=False`
# gives a generation prompt without the opening `<think>\n`.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(system='', last_user=-1) -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}"
    "{%- set ns.system = ns.system + ('\\n\\n' if ns.system else '') + m['content'] -%}"
    "{%- elif m['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{- ns.system -}}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'user' -%}{{- '<|User|>' + m['content'] -}}"
    "{%- elif m['role'] == 'assistant' -%}"
    "{%- set content = m['content'] -%}"
    "{%- if loop.index0 < ns.last_user and '</think>' in content -%}"
    "{%- set content = content.split('</think>')[-1].lstrip() -%}"
    "{%- endif -%}"
    "{{- '<|Assistant|>' + content + '<|endoftext|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|Assistant|>' -}}"
    "{%- if enable_thinking is not defined or enable_thinking -%}{{- '<think>\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)


def _train_backend(corpus: Iterable[str], vocab_size: int):
    """Train a `tokenizers.Tokenizer` (byte-level BPE, one token per digit) on `corpus`.

    The normalizer and pre-tokenizer are exactly the ones transformers' `Qwen2Tokenizer` builds:
    AutoTokenizer always loads a qwen2 checkpoint's tokenizer.json through that class, which keeps
    the vocab and merges but replaces the pipeline. Using its pipeline everywhere makes a saved
    tokenizer encode the same as the in-memory one for every arch. Its split regex gives each
    digit its own pre-token (`\\p{N}`), so BPE can never merge digits.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        # No prefix space: the first word of a text encodes as written, so decoding is exact.
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        # special=True and normalized=False: matched verbatim before pre-tokenization, so a
        # preceding space or newline stays its own token instead of changing the tag's id.
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    return tok


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 1024):
    """Train the r1kit tokenizer and wrap it as a transformers `PreTrainedTokenizerFast`.

    corpus: lines of training text; None uses `default_corpus()` (deterministic: the same
    tokenizer on every build). vocab_size is an upper bound: a small corpus yields fewer merges.
    The 256 byte symbols and 8 special tokens are always in the vocabulary.
    """
    from transformers import PreTrainedTokenizerFast

    from r1kit.models.corpus import default_corpus

    floor = 256 + len(SPECIAL_TOKENS)
    if vocab_size < floor:
        raise R1kitError(f"vocab_size must be at least {floor} (256 bytes + special tokens), got {vocab_size}")
    backend = _train_backend(default_corpus() if corpus is None else corpus, vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        clean_up_tokenization_spaces=False,  # keeps decode(encode(s)) == s
        padding_side="left",  # generation pads prompts on the left
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
