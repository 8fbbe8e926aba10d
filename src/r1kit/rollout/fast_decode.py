"""A lean forward pass for sampling from Llama-family models (qwen2, llama), with its own KV cache.

    fast = FastDecoder.for_model(model)         # None when the model is not supported: use model(...) then
    fast = FastDecoder.for_model(model, torch.bfloat16)   # bf16 copies of fp32 weights (mixed precision)
    cache = fast.new_cache(rows, capacity)
    logits = fast.forward(ids, attention_mask, positions, cache)     # (R, V) fp32, the last position's

Decoding a small model is bound by per-token overhead, not arithmetic: transformers' forward runs dozens of
Python-level modules, mask builders and cache checks per layer per token. This computes the same function as
the model's own forward -- the same weights, read fresh at every `FastDecoder.for_model` (so it always samples
the current policy) -- with the projections fused (q|k|v in one matmul, gate|up in one), rotary embeddings
computed once per step for all layers, one boolean attention mask per step, and a preallocated cache written in
place. Tested against the model's own logits (tests/rollout/test_fast_decode.py): equal to float rounding in
fp32, prefill and decode, with left padding and shared rows.

Supported: plain layers only (no LoRA-wrapped or quantised projections: `plain_projections`), model_type qwen2
or llama, full attention in every layer, rope_type default / linear / llama3 (the
scaling lives in inv_freq), SiLU MLP; and gpt2 (Gpt2Decoder: the demo's base models). Anything else:
`for_model` returns None and the engine runs the model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SUPPORTED = ("qwen2", "llama")  # and gpt2, through Gpt2Decoder
ROPE_TYPES = ("default", "linear", "llama3")


@dataclass
class Layer:
    """One decoder layer's weights, the projections fused; biases None where the model has none."""
    ln1: torch.Tensor          # (H,)
    w_qkv: torch.Tensor        # ((nh + 2 nkv) * D, H)
    b_qkv: torch.Tensor | None
    w_o: torch.Tensor          # (H, nh * D)
    b_o: torch.Tensor | None
    ln2: torch.Tensor          # (H,)
    w_gu: torch.Tensor         # (2 I, H)
    b_gu: torch.Tensor | None
    w_down: torch.Tensor       # (H, I)
    b_down: torch.Tensor | None
    # shapes as nn.Linear stores them, (out, in); transposed to (in, out) when the decoder is `transposed`


def linear_t(x: torch.Tensor, wt: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """x @ wt + b for x (..., K) and a weight stored transposed, wt (K, N) contiguous: F.linear(x, wt.T, b).
    At decode's few rows in fp32 this layout is the faster one: measured on a 2-core Sapphire Rapids CPU
    (torch 2.13, 1 thread, 32 rows), 1.4-1.5x F.linear's speed, and a decode step of the 4.1M benchmark model
    4.4 -> 3.6 ms; in bf16 the whole step was slower with it (3.2 -> 3.5 ms), so bf16 keeps (out, in): packed_linear
    where oneDNN has it, else F.linear."""
    y = x.reshape(-1, x.shape[-1])
    y = torch.addmm(b, y, wt) if b is not None else y @ wt
    return y.view(*x.shape[:-1], wt.shape[1])


@functools.lru_cache(maxsize=None)
def onednn_packed() -> bool:
    """Whether bf16 projections on this CPU can run on oneDNN's prepacked weights (torch.ops.mkldnn, as
    torch.compile's CPU freezing uses them): a weight reordered once per generate call into the blocked layout
    the bf16 kernel reads, instead of at every matmul. Measured on a 2-core Sapphire Rapids CPU (torch 2.13,
    1 thread, 32 rows): 1.4-1.7x F.linear per projection, rollout of the 4.1M benchmark model 8453 -> 9609
    tokens/s. False (F.linear then) where torch or the CPU lacks them (oneDNN's bf16 needs AVX-512) or they
    disagree with F.linear on a probe."""
    try:  # the CPU check first: where oneDNN has no bf16 kernels the ops must not even be tried
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
        g = torch.Generator().manual_seed(0)
        x = torch.randn(3, 2, 16, generator=g).bfloat16()
        w, b = torch.randn(8, 16, generator=g).bfloat16(), torch.randn(8, generator=g).bfloat16()
        y = packed_linear(x, pack_weight(w), b)
        return y.shape == (3, 2, 8) and torch.allclose(y.float(), F.linear(x, w, b).float(), atol=0.05, rtol=0.02)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def pack_weight(w: torch.Tensor) -> torch.Tensor:
    """w (out, in) bf16 in oneDNN's blocked layout: an opaque tensor only packed_linear reads."""
    return torch.ops.mkldnn._reorder_linear_weight(w, 32)   # 32: the row count it is tuned for (decode's batch)


def packed_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear(x, w, b) for x (..., in) and a pack_weight'ed w."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


class FastCache:
    """Keys and values of every layer, preallocated: k[l], v[l]: (R, nkv, capacity, D); `length` filled."""

    def __init__(self, n_layers: int, rows: int, n_kv: int, capacity: int, head_dim: int, dtype, device):
        shape = (rows, n_kv, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.capacity, self.length = capacity, 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows `indices` (repeats allowed: a shared prompt's rows), copying only the filled positions."""
        n = self.length
        for buffers in (self.k, self.v):
            for i, buf in enumerate(buffers):
                new = buf.new_zeros((len(indices),) + tuple(buf.shape[1:]))
                new[:, :, :n] = buf[indices, :, :n]
                buffers[i] = new


def _bias(linear) -> torch.Tensor | None:
    return None if linear.bias is None else linear.bias.detach()


def _cat_bias(*linears) -> torch.Tensor | None:
    if all(lin.bias is None for lin in linears):
        return None
    return torch.cat([lin.bias.detach() if lin.bias is not None else lin.weight.new_zeros(lin.weight.shape[0])
                      for lin in linears])


def _fuse_detached(*linears, bias: bool = False) -> torch.Tensor | None:
    """The linears' weights (bias=True: biases) joined along the output dim, detached; one linear's own tensor."""
    if bias:
        return _cat_bias(*linears) if len(linears) > 1 else _bias(linears[0])
    return (torch.cat([lin.weight for lin in linears]) if len(linears) > 1 else linears[0].weight).detach()


def fused_layer(layer, fuse, norm) -> Layer:
    """A qwen2 / llama decoder layer as a Layer: fuse(*linears, bias=False) joins the projections' weights along
    the output dim (bias=True: their biases, None when none has one), norm(weight) gives each RMSNorm weight.
    LlamaDecoder fuses detached weights; train.lean_forward.LeanWeights bf16 copies it trains through."""
    a, m = layer.self_attn, layer.mlp
    return Layer(norm(layer.input_layernorm.weight), fuse(a.q_proj, a.k_proj, a.v_proj),
                 fuse(a.q_proj, a.k_proj, a.v_proj, bias=True), fuse(a.o_proj), fuse(a.o_proj, bias=True),
                 norm(layer.post_attention_layernorm.weight), fuse(m.gate_proj, m.up_proj),
                 fuse(m.gate_proj, m.up_proj, bias=True), fuse(m.down_proj), fuse(m.down_proj, bias=True))


def plain_projections(model) -> bool:
    """Whether every projection a decoder reads is a plain torch Linear (GPT-2: transformers' Conv1D), so its
    `weight` is the whole function. Wrapped layers -- peft's LoRA Linear, whose `weight` is only the base
    weight, quantised layers -- are not: a decoder would silently sample another model than the policy."""
    from transformers.pytorch_utils import Conv1D

    lm_head = getattr(model, "lm_head", None)
    heads_ok = lm_head is not None and type(lm_head) is torch.nn.Linear
    kinds = {torch.nn.Linear, Conv1D}
    names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")
    layers = [m for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in names]
    return heads_ok and bool(layers) and all(type(m) in kinds for m in layers)


def llama_family(model) -> bool:
    """Whether `model` is a qwen2 / llama of the form LlamaDecoder (and train.lean_forward) compute: SiLU MLP,
    full attention in every layer, rope_type default / linear / llama3."""
    cfg = model.config
    if getattr(cfg, "model_type", None) not in SUPPORTED or getattr(cfg, "hidden_act", "silu") != "silu":
        return False
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    rotary = getattr(getattr(model, "model", None), "rotary_emb", None)
    return rotary is not None and getattr(rotary, "rope_type", "default") in ROPE_TYPES


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm as transformers' Llama/Qwen2 compute it: x / sqrt(mean(x^2) + eps) in fp32, cast back to x's
    dtype, then scaled by weight. x: (..., H), weight: (H,)."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def rope_tables(positions: torch.Tensor, inv_freq: torch.Tensor, scale: float, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin: (..., T, D) in `dtype` for positions (..., T), rotate-half layout: angle p * inv_freq[i],
    repeated over both halves, times the rope type's attention scaling."""
    freqs = positions[..., None].float() * inv_freq                                    # (..., T, D/2)
    emb = torch.cat([freqs, freqs], dim=-1)                                             # (..., T, D)
    return (emb.cos() * scale).to(dtype), (emb.sin() * scale).to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, rotate-half form: x * cos + [-x2, x1] * sin over the last dim (D)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


class FastDecoder:
    """What the engine calls: `for_model` picks the decoder of the model's architecture; every decoder has
    new_cache(rows, capacity) and forward(ids, attention_mask, positions, cache) -> (R, V) fp32 logits."""

    n_kv: int
    head_dim: int
    layers: list
    dtype: torch.dtype
    device: torch.device
    transposed: bool = False
    """Projection weights held (in, out) for linear_t (fp32 on CPU) instead of (out, in) for F.linear."""
    packed: bool = False
    """Projection weights held in oneDNN's blocked layout for packed_linear (bf16 on CPU, `onednn_packed`)."""

    @classmethod
    def for_model(cls, model, dtype: torch.dtype | None = None) -> FastDecoder | None:
        """A FastDecoder (Gpt2Decoder for GPT-2) over `model`'s current weights, cast to `dtype` when given (the
        compute dtype of mixed precision: bf16 copies of fp32 master weights), or None when the model is not of
        a supported kind."""
        if not plain_projections(model):  # e.g. LoRA layers: their weight is the base's, not the policy's
            return None
        if Gpt2Decoder.supports(model):
            return Gpt2Decoder(model, dtype)
        return LlamaDecoder(model, dtype) if llama_family(model) else None

    def new_cache(self, rows: int, capacity: int) -> FastCache:
        return FastCache(len(self.layers), rows, self.n_kv, capacity, self.head_dim, self.dtype, self.device)

    def _mask(self, attention_mask: torch.Tensor | None, rows: int, T: int, start: int) -> torch.Tensor | None:
        """(R, 1, T, S) booleans, S = start + T: query i (at position start + i) sees key j <= start + i whose
        attention_mask is 1, and always itself (so a pad query never has an empty row: no NaN reaches the
        cache). None when every key is visible (one new token per row, nothing padded)."""
        S = start + T
        if T == 1 and attention_mask is None:
            return None
        j = torch.arange(S, device=self.device)
        i = start + torch.arange(T, device=self.device)
        allowed = (j[None, :] <= i[:, None]).expand(rows, T, S)                          # (R, T, S)
        if attention_mask is not None:
            allowed = allowed & attention_mask[:, None, :S].bool()
        allowed = allowed | (j[None, :] == i[:, None])
        return allowed.unsqueeze(1)

    def _finish(self, dtype: torch.dtype | None) -> None:
        """Cast to the compute dtype when one is given, then pick the projection layout for it."""
        if dtype is not None and dtype != self.embed.dtype:
            self._cast(dtype)
        self.dtype, self.device = self.embed.dtype, self.embed.device
        if self.dtype == torch.float32 and self.device.type == "cpu":  # measured on CPU only (linear_t)
            self._map_weights(lambda w: w.t().contiguous())
            self.transposed = True
        elif self.dtype == torch.bfloat16 and self.device.type == "cpu" and onednn_packed():
            self._map_weights(pack_weight)
            self.packed = True

    def _lin(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if self.packed:
            return packed_linear(x, w, b)
        return linear_t(x, w, b) if self.transposed else F.linear(x, w, b)

    def _map_weights(self, fn) -> None:
        """Apply fn to every projection weight (not norms, biases or embeddings) and to the LM head."""
        self.lm_head = fn(self.lm_head)
        for i, w in enumerate(self.layers):
            if isinstance(w, Layer):
                w.w_qkv, w.w_o, w.w_gu, w.w_down = map(fn, (w.w_qkv, w.w_o, w.w_gu, w.w_down))
            else:  # Gpt2Decoder's tuple: weights at 2, 4, 8, 10
                self.layers[i] = tuple(fn(t) if j in (2, 4, 8, 10) else t for j, t in enumerate(w))

    def _cast(self, dtype: torch.dtype) -> None:
        """Every weight this decoder reads (the fused copies, norms, embeddings, head) cast to `dtype`."""
        cast = lambda t: t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
        for name in ("embed", "wpe", "lm_head"):
            if hasattr(self, name):
                setattr(self, name, cast(getattr(self, name)))
        self.norm = tuple(map(cast, self.norm)) if isinstance(self.norm, tuple) else cast(self.norm)
        self.layers = [Layer(*map(cast, vars(w).values())) if isinstance(w, Layer) else tuple(map(cast, w))
                       for w in self.layers]

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache: FastCache) -> torch.Tensor:
        raise NotImplementedError


class LlamaDecoder(FastDecoder):
    """qwen2 / llama: the model's forward for sampling, over weights fused from the model as it is now."""

    def __init__(self, model, dtype: torch.dtype | None = None):
        cfg, base = model.config, model.model
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = cfg.rms_norm_eps
        self.embed = base.embed_tokens.weight.detach()                                  # (V, H)
        self.norm = base.norm.weight.detach()                                           # (H,)
        self.lm_head = model.lm_head.weight.detach()                                    # (V, H)
        rotary = base.rotary_emb
        self.inv_freq, self.rope_scale = rotary.inv_freq.detach().float(), float(rotary.attention_scaling)
        with torch.no_grad():
            self.layers = [self._layer(layer) for layer in base.layers]
        self._finish(dtype)

    @staticmethod
    def _layer(layer) -> Layer:
        return fused_layer(layer, _fuse_detached, torch.Tensor.detach)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, weight, self.eps)

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin: (R, 1, T, D) for positions (R, T)."""
        cos, sin = rope_tables(positions, self.inv_freq, self.rope_scale, self.dtype)
        return cos.unsqueeze(1), sin.unsqueeze(1)

    _rotate = staticmethod(rotate)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache: FastCache) -> torch.Tensor:
        """Logits (R, V) in fp32 of the last of the T new tokens ids (R, T) at `positions` (R, T), appended to
        `cache`; attention_mask (R, >= cache.length + T) marks real (1) and padded (0) keys, or None."""
        R, T = ids.shape
        nh, nkv, D = self.n_heads, self.n_kv, self.head_dim
        start = cache.length
        if start + T > cache.capacity:
            raise RuntimeError(f"FastCache overflow: {start} + {T} > capacity {cache.capacity}")
        x = F.embedding(ids, self.embed)                                                # (R, T, H)
        cos, sin = self._rope(positions)
        mask = self._mask(attention_mask, R, T, start)
        for li, w in enumerate(self.layers):
            qkv = self._lin(self._rms(x, w.ln1), w.w_qkv, w.b_qkv)                        # (R, T, (nh+2nkv) D)
            qk, v = qkv.split([(nh + nkv) * D, nkv * D], dim=-1)
            qk = self._rotate(qk.view(R, T, nh + nkv, D).transpose(1, 2), cos, sin)     # (R, nh + nkv, T, D)
            q, k = qk[:, :nh], qk[:, nh:]                                               # q and k rotated at once
            cache.k[li][:, :, start:start + T] = k
            cache.v[li][:, :, start:start + T] = v.view(R, T, nkv, D).transpose(1, 2)
            keys, values = cache.k[li][:, :, :start + T], cache.v[li][:, :, :start + T]
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=D ** -0.5,
                                               enable_gqa=nkv != nh)                    # (R, nh, T, D)
            x = x + self._lin(o.transpose(1, 2).reshape(R, T, nh * D), w.w_o, w.b_o)
            gate, up = self._lin(self._rms(x, w.ln2), w.w_gu, w.b_gu).chunk(2, dim=-1)
            x = x + self._lin(F.silu(gate) * up, w.w_down, w.b_down)
        cache.length = start + T
        return self._lin(self._rms(x[:, -1], self.norm), self.lm_head).float()          # (R, V)


class Gpt2Decoder(FastDecoder):
    """FastDecoder's contract for GPT-2 (the demo's tiny base models): learned positions, LayerNorm, fused c_attn,
    GELU MLP; Conv1D weights transposed once per generate call."""

    def __init__(self, model, dtype: torch.dtype | None = None):
        cfg, base = model.config, model.transformer
        self.n_heads = self.n_kv = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.eps = cfg.layer_norm_epsilon
        self.embed, self.wpe = base.wte.weight.detach(), base.wpe.weight.detach()       # (V, H), (P, H)
        self.norm = (base.ln_f.weight.detach(), base.ln_f.bias.detach())
        self.lm_head = model.lm_head.weight.detach()                                    # (V, H)
        t = lambda conv: conv.weight.detach().t().contiguous()                          # Conv1D (in, out) -> (out, in)
        with torch.no_grad():
            self.layers = [(b.ln_1.weight.detach(), b.ln_1.bias.detach(), t(b.attn.c_attn), b.attn.c_attn.bias.detach(),
                            t(b.attn.c_proj), b.attn.c_proj.bias.detach(), b.ln_2.weight.detach(), b.ln_2.bias.detach(),
                            t(b.mlp.c_fc), b.mlp.c_fc.bias.detach(), t(b.mlp.c_proj), b.mlp.c_proj.bias.detach())
                           for b in base.h]
        self.gelu = "none" if cfg.activation_function == "gelu" else "tanh"
        self._finish(dtype)

    @classmethod
    def supports(cls, model) -> bool:
        cfg = model.config
        return (getattr(cfg, "model_type", None) == "gpt2"
                and cfg.activation_function in ("gelu_new", "gelu_pytorch_tanh", "gelu")
                and getattr(cfg, "scale_attn_weights", True) and not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
                and not getattr(cfg, "reorder_and_upcast_attn", False) and not getattr(cfg, "add_cross_attention", False))

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache: FastCache) -> torch.Tensor:
        """As FastDecoder.forward, for GPT-2."""
        R, T = ids.shape
        nh, D = self.n_heads, self.head_dim
        start = cache.length
        if start + T > cache.capacity:
            raise RuntimeError(f"FastCache overflow: {start} + {T} > capacity {cache.capacity}")
        x = F.embedding(ids, self.embed) + F.embedding(positions, self.wpe)            # (R, T, H)
        mask = self._mask(attention_mask, R, T, start)
        for li, (g1, b1, w_qkv, b_qkv, w_o, b_o, g2, b2, w_fc, b_fc, w_out, b_out) in enumerate(self.layers):
            q, k, v = self._lin(F.layer_norm(x, (x.shape[-1],), g1, b1, self.eps), w_qkv, b_qkv).chunk(3, dim=-1)
            cache.k[li][:, :, start:start + T] = k.view(R, T, nh, D).transpose(1, 2)
            cache.v[li][:, :, start:start + T] = v.view(R, T, nh, D).transpose(1, 2)
            keys, values = cache.k[li][:, :, :start + T], cache.v[li][:, :, :start + T]
            o = F.scaled_dot_product_attention(q.view(R, T, nh, D).transpose(1, 2), keys, values, attn_mask=mask,
                                               scale=D ** -0.5)                          # (R, nh, T, D)
            x = x + self._lin(o.transpose(1, 2).reshape(R, T, nh * D), w_o, b_o)
            h = F.gelu(self._lin(F.layer_norm(x, (x.shape[-1],), g2, b2, self.eps), w_fc, b_fc), approximate=self.gelu)
            x = x + self._lin(h, w_out, b_out)
        cache.length = start + T
        return self._lin(F.layer_norm(x[:, -1], (x.shape[-1],), *self.norm, self.eps), self.lm_head).float()
