"""RolloutEngine: batched sampling with a KV cache over any transformers causal LM.

    engine = RolloutEngine(model, tokenizer)
    rollout = engine.generate(prompts, SamplingParams(n=8, temperature=1.0, max_new_tokens=256, seed=0))

One call: tokenize -> share prompts (each distinct prompt is prefilled once, then its cache rows are
copied to its n samples) -> decode step by step -> Rollout. Finished rows are dropped from the active
batch (cache, mask, positions) once at least `compact_min_frac` of it has finished, so they stop
costing compute. The pieces a continuous-batching scheduler needs are separate methods: `prefill`,
`sample`, `decode_step`, `compact`. Not here: chunked prefill, paged KV, admitting new requests
mid-decode, speculative decoding.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from r1kit.errors import R1kitError
from r1kit.rollout.batch import Outputs, left_pad, share_prompts
from r1kit.rollout.sampling import sample_tokens
from r1kit.rollout.stopping import StopStringFinder, eos_token_ids
from r1kit.rollout.types import Rollout, SamplingParams


@dataclass
class DecodeState:
    """The active batch between steps; A = active rows, K = cache capacity (prompt width + new tokens)."""

    cache: object  # transformers Cache of the A active rows
    rows: torch.Tensor  # (A,) output row of each active row
    attention_mask: torch.Tensor | None  # (A, K) 1 = attend; None when no prompt is padded
    positions: torch.Tensor  # (A,) position id of the next token fed
    logits: torch.Tensor  # (A, V) fp32 next-token logits
    done: torch.Tensor  # (A,) bool: finished, still in the batch until the next compaction
    kv_len: int  # positions filled in the cache
    next_tokens: torch.Tensor | None = None  # (A,) sampled, to be fed by the next decode_step


class RolloutEngine:
    """Samples completions from `model` (any HF causal LM, any device) with `tokenizer`.

    share_prompts: prefill each distinct prompt once (False: every row prefills its own copy).
    compact_min_frac: drop finished rows once this fraction of the active batch has finished
        (0 = at every step any row finishes; inf = never, finished rows ride along masked).
    add_special_tokens: passed to the tokenizer for string prompts (False, as TRL: the prompt
        text, e.g. a chat template, carries its own BOS).
    fast: `generate` runs qwen2 / llama models through rollout.fast_decode.FastDecoder (the same function,
        less overhead per token); False, or another architecture: the model's own forward.
    compute_dtype: with `fast`, the decoder samples from copies of the weights cast to this dtype (bf16 under
        mixed precision: the policy's fp32 master weights, computed in bf16 as its training forward is).
    """

    def __init__(self, model, tokenizer, *, share_prompts: bool = True, compact_min_frac: float = 0.25,
                 add_special_tokens: bool = False, fast: bool = True, compute_dtype: torch.dtype | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.fast, self._fast = fast, None  # _fast: the FastDecoder of the generate call in progress
        self.compute_dtype = compute_dtype
        self.share_prompts, self.compact_min_frac = share_prompts, compact_min_frac
        self.add_special_tokens = add_special_tokens
        self.eos_ids = eos_token_ids(model, tokenizer)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0))
        special = set(getattr(tokenizer, "all_special_ids", []))
        self._strip_ids = [i for i in {*self.eos_ids, self.pad_id} if i in special]
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in params
        self._stop_finders: dict[tuple[str, ...], StopStringFinder] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def generate(self, prompts: list[str] | list[list[int]], params: SamplingParams) -> Rollout:
        """Sample params.n completions per prompt; the model is in eval mode for the call."""
        from r1kit.rollout.fast_decode import FastDecoder

        was_training = self.model.training
        self.model.eval()
        try:
            self._fast = FastDecoder.for_model(self.model, self.compute_dtype) if self.fast else None  # this call's
            return self._generate(prompts, params)
        finally:
            self._fast = None  # prefill / decode_step called directly (serve's batcher) run the model itself
            self.model.train(was_training)

    def _generate(self, prompts, params: SamplingParams) -> Rollout:
        encoded = self.encode(prompts)
        unique, expand = share_prompts(encoded, params.n, self.share_prompts)  # expand: (B,)
        ids, mask = left_pad(unique, self.pad_id)  # (U, Lp)
        ids, mask, expand = ids.to(self.device), mask.to(self.device), expand.to(self.device)
        out = Outputs.empty(len(expand), params.max_new_tokens, self.pad_id, self.device)
        with torch.inference_mode():  # cheaper per op than no_grad; `out` stays a normal tensor (autograd-usable)
            state = self.prefill(ids, mask, expand, extra=params.max_new_tokens)
            self._decode(state, out, params)
        prompt_index = [i for i in range(len(prompts)) for _ in range(params.n)]
        return out.to_rollout(ids[expand], mask[expand], prompt_index, self.tokenizer, self._strip_ids)

    def encode(self, prompts: list[str] | list[list[int]]) -> list[list[int]]:
        """Token ids per prompt (strings are tokenized; id lists are used as given)."""
        if not prompts:
            raise R1kitError("generate needs at least one prompt")
        if isinstance(prompts[0], str):
            encoded = self.tokenizer(list(prompts), add_special_tokens=self.add_special_tokens)["input_ids"]
        else:
            encoded = [[int(i) for i in p] for p in prompts]
        if any(len(p) == 0 for p in encoded):
            raise R1kitError("empty prompt: every prompt needs at least one token")
        return encoded

    def _decode(self, state: DecodeState, out: Outputs, params: SamplingParams) -> None:
        """The decoding loop: sample, record, stop, compact, feed -- until all rows end or N steps."""
        generator = self._generator(params.seed)
        stopper = self._stop_finder(params.stop, state.logits.shape[-1]) if params.stop else None
        eos = torch.tensor(self.eos_ids, dtype=torch.long, device=self.device)  # (E,)
        for t in range(params.max_new_tokens):
            tokens, logp = self.sample(state, params, generator)  # (A,), (A,)
            alive = ~state.done  # (A,)
            out.record(state.rows, t, tokens, logp, alive)
            hit = torch.isin(tokens, eos) & alive  # (A,)
            if stopper is not None:
                hit |= stopper.match(out.ids, state.rows, t, tokens, alive)
            out.finish(state.rows, hit, t)
            state.done |= hit
            n_done = int(state.done.sum())  # host sync: stop or compact?
            if n_done == state.rows.shape[0] or t + 1 == params.max_new_tokens:
                return
            if n_done > 0 and n_done >= self.compact_min_frac * state.rows.shape[0]:
                self.compact(state, (~state.done).nonzero().squeeze(1))
            self.decode_step(state)

    # ---- the steps a scheduler calls ----
    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, expand: torch.Tensor, extra: int) -> DecodeState:
        """Run the prompts ids/mask (U, Lp) once, then give each output row (expand: (B,) -> prompt row)
        its copy of the prompt's cache; the cache has room for `extra` more tokens."""
        from r1kit.rollout.kv_cache import new_cache, select_rows

        capacity = ids.shape[1] + extra
        cache = self._fast.new_cache(ids.shape[0], capacity) if self._fast else new_cache(self.model, capacity)
        padded = bool((mask == 0).any())
        positions = (mask.cumsum(dim=1) - 1).clamp_(min=0)  # (U, Lp)
        logits = self._forward(ids, mask if padded else None, positions, cache, last_only=True)  # (U, V)
        if expand.shape[0] != ids.shape[0] or not torch.equal(expand, torch.arange(len(expand), device=expand.device)):
            select_rows(cache, expand)
            logits = logits[expand]  # (B, V)
        attention_mask = None
        if padded:
            ones = mask.new_ones(expand.shape[0], extra)  # (B, N)
            attention_mask = torch.cat([mask[expand], ones], dim=1)  # (B, Lp + N)
        return DecodeState(
            cache=cache,
            rows=torch.arange(expand.shape[0], device=ids.device),  # (B,)
            attention_mask=attention_mask,
            positions=mask.sum(dim=1)[expand],  # (B,)
            logits=logits,
            done=torch.zeros(expand.shape[0], dtype=torch.bool, device=ids.device),  # (B,)
            kv_len=ids.shape[1],
        )

    def sample(self, state: DecodeState, params: SamplingParams, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample the next token of every active row from state.logits; it is fed by the next decode_step."""
        tokens, logp = sample_tokens(state.logits, params.temperature, params.top_p, generator)  # (A,), (A,)
        state.next_tokens = tokens
        return tokens, logp

    def decode_step(self, state: DecodeState) -> None:
        """Feed state.next_tokens (A,) through the model; state.logits becomes the next distribution."""
        mask = None if state.attention_mask is None else state.attention_mask[:, : state.kv_len + 1]  # (A, L+1)
        state.logits = self._forward(state.next_tokens[:, None], mask, state.positions[:, None], state.cache)
        state.positions = state.positions + 1
        state.kv_len += 1

    def compact(self, state: DecodeState, keep: torch.Tensor) -> None:
        """Keep only active rows `keep` (K,) -- cache, mask, positions, pending tokens and all."""
        from r1kit.rollout.kv_cache import select_rows

        select_rows(state.cache, keep)
        state.rows, state.positions, state.done = state.rows[keep], state.positions[keep], state.done[keep]
        state.logits = state.logits[keep]
        if state.next_tokens is not None:
            state.next_tokens = state.next_tokens[keep]
        if state.attention_mask is not None:
            state.attention_mask = state.attention_mask[keep]

    # ---- helpers ----
    def _forward(self, input_ids, attention_mask, position_ids, cache, last_only: bool = False) -> torch.Tensor:
        if self._fast is not None:
            return self._fast.forward(input_ids, attention_mask, position_ids, cache)  # (R, V) fp32
        kwargs = {self._cache_kw: cache, "use_cache": True}
        if last_only and self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
        return out.logits[:, -1].float()  # (R, V)

    def _generator(self, seed: int | None) -> torch.Generator | None:
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(seed)

    def _stop_finder(self, stop: tuple[str, ...], vocab_size: int) -> StopStringFinder:
        if stop not in self._stop_finders:
            self._stop_finders[stop] = StopStringFinder(self.tokenizer, stop, vocab_size, self.device)
        return self._stop_finders[stop]
