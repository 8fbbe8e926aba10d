"""The training forward of qwen2 / llama under mixed precision: matmuls in bf16, everything else in fp32.

    weights = LeanWeights(model, torch.bfloat16, grad=True)       # once per optimizer step
    logits = lean_logits(weights, input_ids, prefix_len, keep)    # (B, keep, V) fp32; .backward() per micro-batch
    weights.scatter_grads()                                       # the fp32 gradients, onto the model's parameters

It computes what `model(input_ids).logits[:, -keep:]` computes, with gradients reaching the model's own fp32
parameters (the master weights), but in the precision split that trains fast on bf16 hardware (AMX CPUs, GPUs):

- every projection (q|k|v fused in one matmul, gate|up in one, o, down, the LM head) runs in `dtype` on a copy
  of the weights fused and cast once per optimizer step (LeanWeights), not once per micro-batch; the copies'
  gradients are accumulated in fp32 as each micro-batch's backward produces them and handed to the model's
  fp32 parameters once, by scatter_grads, before the optimizer step;
- the residual stream, RMSNorm, rotary embedding and attention stay fp32. Attention in fp32 is deliberate:
  measured on a 2-core Sapphire Rapids CPU (torch 2.13, 1 thread, three 8-row micro-batches of the 4.1M
  benchmark model), the bf16 flash-attention backward took 84 ms against fp32's 18 ms and was the largest item
  of the autocast step, while attention is ~4% of the step's FLOPs.

torch.autocast gives the same split for the projections but casts the weights at every call and runs attention
in bf16. Rows are right-padded (each row's real tokens first, as train/forward.py packs them), so the causal
mask alone is exact for every real token and no padding mask is needed. With prefix_len > 0 every row shares
input_ids[:, :prefix_len]: the prefix runs once (batch 1) and every row attends to its keys and values, which
carry the gradient back into the prefix's computation (train/forward.py explains why).

Supported: what rollout.fast_decode's LlamaDecoder supports (`llama_family`, plain projections), and not sharded
by fsdp2 (its MixedPrecisionPolicy does this job there). Tested against the model's own forward in fp32 to 1e-5,
and in bf16 against it within bf16 rounding (tests/train/test_lean_forward.py).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from r1kit.rollout.fast_decode import (Layer, fused_layer, llama_family, plain_projections, rms_norm,
                                      rope_tables, rotate)
from r1kit.train.dist import is_sharded


def lean_supported(model) -> bool:
    """Whether lean_logits computes `model`'s forward: a plain (no LoRA, not quantised, not fsdp2-sharded)
    qwen2 / llama."""
    return not is_sharded(model) and plain_projections(model) and llama_family(model)


class LeanWeights:
    """`model`'s weights for lean_logits, cast to `dtype` and fused, valid until the parameters change.

    grad=True: every copy is a leaf that requires grad; as a backward fills a copy's grad, a hook adds it, in
    fp32, to a buffer and frees it, so micro-batches accumulate exactly as fp32 gradients would. scatter_grads()
    then splits each buffer onto the parameters it was fused from (adding to any .grad they hold: the embedding,
    norms and a tied head get gradients directly too)."""

    def __init__(self, model, dtype: torch.dtype, grad: bool = False):
        self.model, self.cfg, self.dtype, self.grad = model, model.config, dtype, grad
        self._sources: list[tuple[Tensor, list[Tensor]]] = []   # (copy, the parameters it fuses)
        self._acc: dict[int, Tensor] = {}                        # id(copy) -> fp32 gradient buffer
        # the layout LlamaDecoder reads; norms are the fp32 parameters themselves (their gradients land directly)
        self.layers = [fused_layer(layer, self._copy, lambda w: w) for layer in model.model.layers]
        self.lm_head = self._copy(model.lm_head)

    def _copy(self, *linears, bias: bool = False) -> Tensor | None:
        params = [lin.bias if bias else lin.weight for lin in linears]
        if any(p is None for p in params):
            if bias and all(p is None for p in params):
                return None
            params = [p if p is not None else lin.weight.new_zeros(lin.weight.shape[0]) for p, lin in zip(params, linears)]
        with torch.no_grad():
            copy = torch.cat([p.detach() for p in params]).to(self.dtype)
        if self.grad:
            copy.requires_grad_(True)
            copy.register_post_accumulate_grad_hook(self._accumulate)
            self._sources.append((copy, params))
        return copy

    def _accumulate(self, copy: Tensor) -> None:
        buf = self._acc.get(id(copy))
        grad = copy.grad.float()
        self._acc[id(copy)] = grad if buf is None else buf.add_(grad)
        copy.grad = None

    @torch.no_grad()
    def scatter_grads(self) -> None:
        """Hand every accumulated copy gradient to the fp32 parameters it was fused from."""
        for copy, params in self._sources:
            buf = self._acc.pop(id(copy), None)
            if buf is None:
                continue
            for p, g in zip(params, buf.split([p.shape[0] for p in params])):
                if not isinstance(p, torch.nn.Parameter) or not p.requires_grad:
                    continue  # a zero bias standing in for a missing one
                p.grad = g.clone() if p.grad is None else p.grad.add_(g)


def _layer(x: Tensor, w: Layer, cfg, cos: Tensor, sin: Tensor, past: tuple[Tensor, Tensor] | None,
           mask: Tensor | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One decoder layer. x: (B, T, H) fp32 residual stream; cos/sin: (T, D) fp32; past: the shared prefix's
    (k, v), each (1, nkv, P, D), or None; mask: (T, P + T) booleans with a prefix, else None (causal).
    Returns the new x and this call's (k, v): (B, nkv, T, D) fp32."""
    B, T, _ = x.shape
    nh, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    D = getattr(cfg, "head_dim", None) or cfg.hidden_size // nh
    dtype = w.w_qkv.dtype
    h = rms_norm(x, w.ln1, cfg.rms_norm_eps).to(dtype)
    qk, v = F.linear(h, w.w_qkv, w.b_qkv).float().split([(nh + nkv) * D, nkv * D], dim=-1)
    qk = rotate(qk.view(B, T, nh + nkv, D).transpose(1, 2), cos, sin)                   # (B, nh + nkv, T, D)
    q, k = qk.split([nh, nkv], dim=1)                                                   # (B, nh | nkv, T, D)
    v = v.view(B, T, nkv, D).transpose(1, 2)
    keys, values = k, v
    if past is not None:
        keys = torch.cat([past[0].expand(B, -1, -1, -1), k], dim=2)                     # (B, nkv, P + T, D)
        values = torch.cat([past[1].expand(B, -1, -1, -1), v], dim=2)
    o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, is_causal=mask is None, scale=D ** -0.5,
                                       enable_gqa=nkv != nh)                             # (B, nh, T, D) fp32
    x = x + F.linear(o.transpose(1, 2).reshape(B, T, nh * D).to(dtype), w.w_o, w.b_o).float()
    gate, up = F.linear(rms_norm(x, w.ln2, cfg.rms_norm_eps).to(dtype), w.w_gu, w.b_gu).chunk(2, dim=-1)
    x = x + F.linear(F.silu(gate) * up, w.w_down, w.b_down).float()
    return x, (k, v)


def _stack(weights: LeanWeights, ids: Tensor, start: int, past: list | None) -> tuple[Tensor, list]:
    """The decoder layers over ids (B, T) at positions start..start+T-1; past: per layer (k, v) of a shared
    prefix of length `start` (or None with start 0). Returns the final hidden states (B, T, H) fp32, before
    the last norm, and each layer's (k, v)."""
    base = weights.model.model
    T = ids.shape[1]
    pos = torch.arange(start, start + T, device=ids.device)
    cos, sin = rope_tables(pos, base.rotary_emb.inv_freq.float(), float(base.rotary_emb.attention_scaling),
                           torch.float32)                                                # (T, D)
    mask = None
    if past is not None:  # query i (position start + i) sees the whole prefix and its own row up to itself
        j = torch.arange(start + T, device=ids.device)
        mask = j[None, :] <= (start + torch.arange(T, device=ids.device))[:, None]      # (T, start + T)
    x = F.embedding(ids, base.embed_tokens.weight).float()                              # (B, T, H)
    kv = []
    for i, w in enumerate(weights.layers):
        x, layer_kv = _layer(x, w, weights.cfg, cos, sin, None if past is None else past[i], mask)
        kv.append(layer_kv)
    return x, kv


def lean_logits(weights: LeanWeights, input_ids: Tensor, prefix_len: int, keep: int) -> Tensor:
    """Logits (B, keep, V) fp32 of the last `keep` positions of right-padded rows input_ids (B, L), matmuls in
    weights.dtype; with prefix_len > 0 the rows' shared first prefix_len tokens are computed once."""
    past, start, ids = None, 0, input_ids
    if prefix_len > 0:
        _, past = _stack(weights, input_ids[:1, :prefix_len], 0, None)
        start, ids = prefix_len, input_ids[:, prefix_len:]
    x, _ = _stack(weights, ids, start, past)
    h = rms_norm(x[:, -keep:], weights.model.model.norm.weight, weights.cfg.rms_norm_eps).to(weights.dtype)
    return F.linear(h, weights.lm_head).float()                                          # (B, keep, V)


def compute_dtype(parallel_cfg, model) -> torch.dtype | None:
    """The bf16 compute dtype when parallel.mixed_precision is bf16 and this process runs the model itself (one
    process or ddp); None in plain precision, for a run config without a parallel section, or under fsdp2,
    whose MixedPrecisionPolicy casts instead."""
    mixed = getattr(parallel_cfg, "mixed_precision", "no") == "bf16"
    return torch.bfloat16 if mixed and not is_sharded(model) else None


def autocast_factory(device_type: str, dtype: torch.dtype | None):
    """A context-manager factory: torch.autocast in `dtype` on `device_type`, or no context when dtype is None."""
    import contextlib

    return contextlib.nullcontext if dtype is None else lambda: torch.autocast(device_type=device_type, dtype=dtype)


def mixed_forward(model, dtype: torch.dtype | None, grad: bool):
    """How this call's forwards compute in `dtype`: (LeanWeights or None, a context-manager factory).
    lean_supported models: LeanWeights (build once per optimizer step or no-grad pass) and no context; other
    models: None and torch.autocast; dtype None: plain forwards."""
    device = next(model.parameters()).device.type
    no_dropout = float(getattr(model.config, "attention_dropout", 0.0) or 0.0) == 0.0
    if dtype is not None and lean_supported(model) and no_dropout:
        return LeanWeights(model, dtype, grad=grad), autocast_factory(device, None)
    return None, autocast_factory(device, dtype)
