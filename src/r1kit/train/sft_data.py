"""Conversations as token ids with an assistant-only loss mask, and the rows an SFT step runs.

    examples = encode_conversation(messages, tokenizer)   # [ChatExample(ids, mask)], mask 1 = in the loss
    rows = pack(lengths, max_length)                       # example indices per packed row
    batch = collate_packed([examples[i] for i in row], pad_id) for each row, or collate_padded(...)

Masking. An assistant turn is trained as the model is later asked for it: the prompt is the conversation
before the turn through `render_chat` (the one chat renderer of eval and serve, its generation prompt
included), and the target is what the chat template writes after that prompt when the turn is the last
message: the reasoning, the answer and the end-of-turn token(s), e.g. "…</think>\\n\\n42<|endoftext|>".
Everything else (system, user turns, role headers, the generation prompt's "<think>\\n") has mask 0.
Prompt and target are tokenized apart, as the rollout engine sees a prompt and then writes a completion.

Multi-turn. Later turns join the same example while the template renders the history exactly as the
earlier turn was trained. R1's template (and r1kit's) drops the reasoning of turns before the last user
message, so a reasoning conversation of k assistant turns becomes k examples, each with its history as
the model will see it at inference; without reasoning it stays one example with k masked spans.

Packing. Examples are packed first-fit-decreasing into rows of at most max_length tokens; position ids
restart at 0 for every example and no attention mask is passed, from which transformers (5.24 here)
builds a block-diagonal causal mask (masking_utils.find_packed_sequence_indices). `packing_is_exact`
checks a model honours that before a run relies on it (qwen2, llama, gpt2 and deepseek_v3 do, in float32
and bfloat16; a model that does not is refused with "set data.packing=false"), and
tests/train/test_sft_data.py checks that the packed loss equals the per-example loss.

Without packing a step's examples are sorted by length before they are cut into forwards (length buckets).
Measured on CPU (tiny qwen2, 0.9M parameters, one thread, 32 examples of 30-400 tokens, rows of 512):
packed, 14 rows, 3% padding, 1.27 s/step; length-sorted padding, 32 rows, 14% padding, 1.33 s/step; the same
loss (6.9590). Packing is the default because it pads least and runs the fewest rows; on CPU the
block-diagonal mask still computes attention over the whole row, so the time gained is small there.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from r1kit.errors import R1kitError


@dataclass(frozen=True)
class ChatExample:
    ids: list[int]
    mask: list[int]
    """1 where the token is an assistant token (a training target), 0 elsewhere; len(mask) == len(ids)."""


def assistant_segments(messages: list[dict], tokenizer) -> list[list[tuple[str, bool]]]:
    """Per example, its text as (segment, is_assistant) pieces (module docstring: Masking, Multi-turn)."""
    from r1kit.data.templates import render_chat

    out: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    rendered = ""  # the text `current` spells
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render_chat(messages[:i], tokenizer, thinking=True)
        full = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
        start = _common_prefix(prompt, full)
        check_reasoning_kept(m["content"], full[start:])
        if current and full[:start].startswith(rendered):
            current.append((full[len(rendered):start], False))
        else:
            if current:
                out.append(current)
            current = [(full[:start], False)]
        current.append((full[start:], True))
        rendered = full
    if current:
        out.append(current)
    return out


def check_reasoning_kept(content: str, target: str) -> None:
    """R1kitError when the chat template wrote the trained turn without its reasoning: some templates drop
    it from every assistant turn (DeepSeek-R1's own does), and SFT would then teach answers alone."""
    reasoning = content.split("</think>")[0].replace("<think>", "").strip() if "</think>" in content else ""
    if reasoning and reasoning[-200:] not in target:
        raise R1kitError("the tokenizer's chat template drops the reasoning of the assistant turn being trained "
                         "(DeepSeek-R1's template does this to every assistant turn); give the model a chat "
                         "template that keeps the last turn's reasoning")


def encode_conversation(messages: list[dict], tokenizer) -> list[ChatExample]:
    """The conversation's training examples: ids and assistant mask, segments tokenized apart."""
    examples = []
    for segments in assistant_segments(messages, tokenizer):
        ids: list[int] = []
        mask: list[int] = []
        for text, is_assistant in segments:
            if text:
                piece = tokenizer(text, add_special_tokens=False)["input_ids"]
                ids += piece
                mask += [int(is_assistant)] * len(piece)
        examples.append(ChatExample(ids, mask))
    return examples



def special_token_ids(tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens: the named ones and every added token marked special."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {int(i) for i, t in added.items() if getattr(t, "special", False)}


def turn_end_ids(examples: list[ChatExample], special_ids) -> set[int]:
    """The special tokens that end trained assistant turns: per example, the last special token of its
    last masked span (ChatML's "<|im_end|>" before the "\\n"; R1's eos)."""
    special, out = set(special_ids), set()
    for ex in examples:
        for t, m in zip(reversed(ex.ids), reversed(ex.mask)):
            if not m:
                break
            if t in special:
                out.add(t)
                break
    return out

def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack(lengths: list[int], max_length: int) -> list[list[int]]:
    """First-fit decreasing: indices into `lengths` per row, each row's total <= max_length.

    Each length must be <= max_length. Rows in order of their first (longest) example."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: -lengths[j]):
        slot = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if slot is None:
            rows.append([])
            room.append(max_length)
            slot = len(rows) - 1
        rows[slot].append(i)
        room[slot] -= lengths[i]
    return rows


def _labels(ex: ChatExample) -> list[int]:
    """Target per position (-100 = no loss); an example's first token never has one (nothing before it)."""
    labels = [t if m else -100 for t, m in zip(ex.ids, ex.mask)]
    return [-100] + labels[1:]


def collate_packed(rows: list[list[ChatExample]], pad_id: int) -> dict[str, Tensor]:
    """Rows of packed examples -> input_ids, position_ids, labels, each (R, L); no attention_mask.

    Position ids run 0..n-1 within every example (the packing boundary); padding at a row's end gets
    positions of its own block and label -100."""
    width = max(sum(len(ex.ids) for ex in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)            # (R, L)
    pos = torch.zeros((len(rows), width), dtype=torch.long)                    # (R, L)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)            # (R, L)
    for r, row in enumerate(rows):
        t = 0
        for ex in row:
            n = len(ex.ids)
            ids[r, t:t + n] = torch.tensor(ex.ids)
            pos[r, t:t + n] = torch.arange(n)
            labels[r, t:t + n] = torch.tensor(_labels(ex))
            t += n
        pos[r, t:] = torch.arange(width - t)
    return {"input_ids": ids, "position_ids": pos, "labels": labels}


def collate_padded(examples: list[ChatExample], pad_id: int) -> dict[str, Tensor]:
    """One example per row, right-padded -> input_ids, attention_mask, labels, each (B, L)."""
    width = max(len(ex.ids) for ex in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)        # (B, L)
    attn = torch.zeros((len(examples), width), dtype=torch.long)               # (B, L)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)        # (B, L)
    for r, ex in enumerate(examples):
        n = len(ex.ids)
        ids[r, :n], attn[r, :n], labels[r, :n] = torch.tensor(ex.ids), 1, torch.tensor(_labels(ex))
    return {"input_ids": ids, "attention_mask": attn, "labels": labels}


def step_rows(examples: list[ChatExample], pad_id: int, max_length: int, packing: bool,
              rows_per_forward: int) -> list[dict[str, Tensor]]:
    """One optimizer step's examples as forward batches of at most `rows_per_forward` rows (0 = all).

    packing: rows of packed examples. Otherwise one example per row, sorted by length so that each
    forward pads to a similar length (length buckets within the step)."""
    if packing:
        rows = [[examples[i] for i in row] for row in pack([len(ex.ids) for ex in examples], max_length)]
    else:
        rows = sorted(examples, key=lambda ex: len(ex.ids))
    k = rows_per_forward or len(rows)
    chunks = [rows[s:s + k] for s in range(0, len(rows), k)]
    return [collate_packed(c, pad_id) if packing else collate_padded(c, pad_id) for c in chunks]


def summed_nll(model, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
    """(sum over target tokens of -log p(token | prefix), number of target tokens) for one forward batch.

        nll = sum_{r,t: labels[r,t] != -100} -log softmax(logits[r, t-1])[labels[r, t]]
    """
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, use_cache=False).logits                           # (R, L, V)
    targets = batch["labels"][:, 1:]                                           # (R, L-1)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(),
                                            ignore_index=-100, reduction="sum")
    return nll, int((targets != -100).sum())



def accumulate_grad(model, forwards: list[dict[str, Tensor]], device, dist=None, compute_dtype=None
                    ) -> tuple[float, int]:
    """Gradients of one optimizer step's loss, accumulated over its forward batches (into .grad).

        loss = sum over the step's target tokens of -log p(token | prefix) / N,   N = the step's target count

    Each forward adds its summed NLL / N, so the gradient is the full batch's whatever the split. Under
    torchrun (`dist`, r1kit.train.dist) `forwards` hold this rank's examples: N counts every rank's targets,
    each rank's loss is scaled by world_size and the gradients averaged over ranks, so the step equals one
    process's on the global batch; an fsdp2 rank short of forwards runs zero-weight ones (forwards are
    collectives). compute_dtype (parallel.mixed_precision in one process or ddp): forwards under torch.autocast
    in that dtype, the master weights and gradients staying float32. Returns (loss, N), both global."""
    from r1kit.train.dist import Dist, sync_grads
    from r1kit.train.lean_forward import autocast_factory

    autocast = autocast_factory(torch.device(device).type, compute_dtype)
    dist = dist or Dist()
    local = sum(int((f["labels"][:, 1:] != -100).sum()) for f in forwards)
    n_targets = int(dist.sum(torch.tensor([local]))[0])
    n_forwards = dist.max_int(len(forwards)) if dist.sharded else len(forwards)
    total = 0.0
    for k in range(n_forwards):
        f, weight = forwards[min(k, len(forwards) - 1)], float(k < len(forwards))  # past the end: weighs nothing
        with autocast():
            nll, _ = summed_nll(model, {key: v.to(device) for key, v in f.items()})
        (nll * (weight * dist.loss_scale / max(n_targets, 1))).backward()
        total += nll.item() * weight
    sync_grads(model, dist)
    total = float(dist.sum(torch.tensor([total], dtype=torch.float64))[0])
    return total / max(n_targets, 1), n_targets

@torch.no_grad()
def packing_is_exact(model, device, vocab: int) -> bool:
    """Whether `model` keeps packed examples apart: the logits of sequence b packed after sequence a (position
    ids restarting) equal b's logits run alone. Exact to 1e-4 in float32; in lower precision, off by under
    5% of what attention crossing the boundary (positions running on) changes."""
    g = torch.Generator().manual_seed(0)
    vocab = min(vocab, model.get_input_embeddings().num_embeddings)
    a, b = (torch.randint(0, vocab, (1, n), generator=g).to(device) for n in (5, 7))
    was_training = model.training
    model.eval()
    both = torch.cat([a, b], 1)                                                     # (1, 12)
    alone = model(input_ids=b, use_cache=False).logits.float()                     # (1, 7, V)
    restart = torch.cat([torch.arange(5), torch.arange(7)]).unsqueeze(0).to(device)
    packed = model(input_ids=both, position_ids=restart, use_cache=False).logits[:, 5:].float()
    crossing = model(input_ids=both, use_cache=False).logits[:, 5:].float()
    model.train(was_training)
    err, cross = (packed - alone).abs().max().item(), (crossing - alone).abs().max().item()
    return err <= 1e-4 or err < 0.05 * cross
