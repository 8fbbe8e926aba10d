"""Multi-process training on torch.distributed: data parallel (ddp) or fully sharded (fsdp2).

    torchrun --nproc_per_node 2 -m r1kit train grpo --config recipes/tiny_cpu.yaml --parallel.strategy=ddp

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; `init_dist` reads them (no torchrun: one process, nothing
changes). gloo on CPU, NCCL on GPU (one GPU per process, cuda:LOCAL_RANK).

Both strategies keep the single-process math exactly. Every rank works on its own block of the step's
examples and weighs each micro-batch's loss by its share of the *global* normaliser (tokens or sequences of
the whole step, summed over ranks with `Dist.sum`) times world_size (`Dist.loss_scale`); the ranks'
gradients are then averaged, so the update equals the one-process update on the whole batch, up to float
summation order:

    ddp    every rank holds the whole model and optimizer; after the step's micro-batches `sync_grads`
           all-reduces (averages) the gradients once, in flat buckets, so ranks may run different numbers of
           micro-batches (no hooks, no collective in forward or backward).
    fsdp2  torch's fully_shard on every decoder layer and the root: parameters, gradients and optimizer
           state are sharded over the ranks; forward all-gathers a layer's weights, backward reduce-scatters
           its gradients (averaged). Forwards are collectives, so every rank runs the same
           number of them (`Dist.max_int` pads with zero-weight micro-batches); generation runs on gathered
           weights (`gathered_params`), each rank decoding on its own.

Checkpoints are the single-process layout, written by rank 0 from a full state dict (`full_state_dict`,
`optimizer_state`); resume loads them with any number of processes and either strategy.
"""

from __future__ import annotations

import atexit
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch

from r1kit.errors import R1kitError

STRATEGIES = ("ddp", "fsdp2")
BUCKET_ELEMENTS = 1 << 24  # gradients all-reduced per flat bucket of at most this many elements
WAIT = timedelta(hours=12)
"""How long a collective waits for the slowest rank: the other ranks wait while rank 0 alone evaluates,
writes a checkpoint or runs a pipeline stage of one process (a base model, traces)."""


@dataclass
class Dist:
    """Where this process stands: rank r of world_size processes, and how the model is spread over them."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    strategy: str = "none"
    """none (one process, nothing wrapped), ddp or fsdp2."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.strategy != "none"

    @property
    def sharded(self) -> bool:
        return self.strategy == "fsdp2"

    @property
    def loss_scale(self) -> float:
        """What each rank multiplies its loss by: gradients are averaged over ranks, the loss shares are global."""
        return float(self.world_size) if self.active else 1.0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Elementwise sum over ranks (a new tensor on values' device; `values` itself is left unchanged)."""
        return self._reduce(values, torch.distributed.ReduceOp.SUM if self.active else None)

    def max(self, values: torch.Tensor) -> torch.Tensor:
        return self._reduce(values, torch.distributed.ReduceOp.MAX if self.active else None)

    def _reduce(self, values: torch.Tensor, op) -> torch.Tensor:
        out = values.detach().to(self.device, copy=True)
        if op is not None:
            torch.distributed.all_reduce(out, op=op)
        return out.to(values.device)

    def max_int(self, n: int) -> int:
        return int(self.max(torch.tensor([n], dtype=torch.long, device=self.device))[0]) if self.active else n

    def gather(self, obj) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank (small picklable objects only)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def block(self, items: list, what: str) -> list:
        """This rank's contiguous block of `items` (rank r gets items[r*k:(r+1)*k], k = len / world_size).
        R1kitError when they do not divide evenly: ranks must agree on every step's size."""
        n, w = len(items), self.world_size
        if n % w:
            raise R1kitError(f"{what} = {n} does not divide over {w} processes; make it a multiple of {w}")
        k = n // w
        return items[self.rank * k:(self.rank + 1) * k]

    @property
    def device(self) -> str:
        """The device collectives run on: the rank's GPU under NCCL, else cpu."""
        if self.active and torch.distributed.get_backend() == "nccl":
            return f"cuda:{self.local_rank}"
        return "cpu"


def launched() -> bool:
    """Whether this process was started by torchrun (or accelerate launch): RANK and WORLD_SIZE are set."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_dist(strategy: str, device: str) -> tuple[Dist, str]:
    """(Dist, this process's device). Without torchrun: Dist() and `device` unchanged. Under torchrun the
    process group starts (NCCL when `device` is a GPU, each rank on cuda:LOCAL_RANK; gloo on CPU)."""
    if strategy not in STRATEGIES:
        raise R1kitError(f"parallel.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if not launched():
        return Dist(), device
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    gpu = device.startswith("cuda")
    if gpu:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not torch.distributed.is_initialized():  # one group for the process's life (pipeline stages reuse it)
        torch.distributed.init_process_group("nccl" if gpu else "gloo", timeout=WAIT)
        atexit.register(_close)
    return Dist(rank, world, local, strategy), device


def process_dist() -> Dist:
    """This process's rank and world for collectives between stages (the pipeline), from the running process
    group; Dist() when there is none. Its strategy says nothing about how a model is spread."""
    if not torch.distributed.is_initialized():
        return Dist()
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                int(os.environ.get("LOCAL_RANK", 0)), "ddp")


def end_process_group() -> None:
    """End torchrun's process group (after a barrier) once the work is done. Call it before the interpreter
    exits: a group left to the exit handler (`_close`, the fallback) races with the teardown of torch's own
    threads, which aborts a rank now and then ("terminate called without an active exception"; measured here:
    2 of 12 two-process runs under load, 0 of 12 with this call)."""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _close() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def check_parallel(d: Dist, cfg, batch_name: str, batch: int) -> None:
    """One-line R1kitErrors, before anything loads, for what a torchrun launch cannot do: a global batch
    (`batch_name` = `batch`) that does not divide over the ranks, and what fsdp2 does not support yet."""
    if not d.active:
        return
    d.block(range(batch), batch_name)  # the error every step's split would give, before anything loads
    if not d.sharded:
        return
    grpo = getattr(cfg, "grpo", None)
    for what, unsupported in (("model.lora", bool(cfg.model.lora)),
                              ("grpo.dynamic_sampling", bool(grpo and grpo.dynamic_sampling)),
                              ("grpo.ref_reset_every", bool(grpo and grpo.ref_reset_every))):
        if unsupported:
            raise R1kitError(f"{what} is not supported with parallel.strategy=fsdp2 yet; use ddp")


def decoder_layers(model) -> list:
    """The modules fsdp2 shards one by one: those whose class is in the model's `_no_split_modules`
    (transformers' decoder blocks: Qwen2DecoderLayer, LlamaDecoderLayer, GPT2Block, ...)."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    return [m for m in model.modules() if type(m).__name__ in names]


def prepare_model(model, d: Dist, mixed_precision: str = "no"):
    """Spread `model` over the ranks (in place; returned for convenience).

    ddp: rank 0's weights are broadcast so every replica starts equal. fsdp2: fully_shard per decoder
    layer and at the root; mixed_precision "bf16" computes in bfloat16 and reduces gradients in float32
    (the sharded fp32 parameters are the master weights)."""
    if not d.active:
        return model
    if d.strategy == "ddp":
        for t in list(model.parameters()) + list(model.buffers()):
            torch.distributed.broadcast(t.data, src=0)
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if mixed_precision == "bf16" else MixedPrecisionPolicy()
    layers = decoder_layers(model)
    if not layers:
        raise R1kitError(f"fsdp2: {type(model).__name__} names no decoder layer class (_no_split_modules); use ddp")
    for layer in layers:
        fully_shard(layer, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    return model


def fsdp_modules(model) -> list:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def is_sharded(model) -> bool:
    """Whether `model` was fully_shard-ed (its forwards are collectives)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def sync_grads(model, d: Dist) -> None:
    """ddp: average every trainable parameter's gradient over the ranks, in flat buckets (a rank whose parameter
    got no gradient contributes zeros). fsdp2 and one process: nothing to do."""
    if d.strategy != "ddp":
        return
    params = [p for p in model.parameters() if p.requires_grad]
    buckets, current, size = [], [], 0
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        if current and size + p.numel() > BUCKET_ELEMENTS:
            buckets.append(current)
            current, size = [], 0
        current.append(p)
        size += p.numel()
    for bucket in buckets + ([current] if current else []):
        flat = torch.cat([q.grad.reshape(-1) for q in bucket])                   # (sum numel,)
        torch.distributed.all_reduce(flat)
        flat /= d.world_size
        for q, g in zip(bucket, flat.split([q.numel() for q in bucket])):
            q.grad.copy_(g.view_as(q.grad))


@contextmanager
def gathered_params(model):
    """fsdp2: every layer's full weights gathered for the block (one all-gather, on every rank), so that each
    rank can then run any number of forwards on its own (generation); sharded again on exit. Otherwise a no-op."""
    mods = fsdp_modules(model) if is_sharded(model) else []
    for m in mods:
        m.set_reshard_after_forward(False)
        m.unshard()
    try:
        yield model
    finally:
        for m in mods:
            m.reshard()
            m.set_reshard_after_forward(True)


def full_state_dict(model) -> dict | None:
    """fsdp2: the full (unsharded) state dict on rank 0's CPU, None on the other ranks -- every rank must call
    it (it all-gathers). Otherwise None: the model itself holds its full weights."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if torch.distributed.get_rank() != 0:
        return None
    shared = {n for n, _ in model.named_parameters(remove_duplicate=False)} - {n for n, _ in model.named_parameters()}
    return {k: v for k, v in sd.items() if k not in shared}  # tied copies (lm_head = embeddings) written once


def trainable_names(model) -> list[str]:
    """Names of the trainable parameters in the optimizer's order (train.optim.make_optimizer)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def optimizer_state(model, opt) -> dict | None:
    """The optimizer's state_dict in the single-process form (state keyed by trainable-parameter index), so
    any process count and strategy can resume it. fsdp2: gathered (every rank must call it), on rank 0 only
    (None elsewhere)."""
    if not is_sharded(model):
        return opt.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    full = get_optimizer_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if torch.distributed.get_rank() != 0:
        return None
    index = {n: i for i, n in enumerate(trainable_names(model))}
    return {"state": {index[n]: v for n, v in full["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in full["param_groups"]]}


def load_optimizer_state(model, opt, state: dict) -> None:
    """Load a single-process-form optimizer state_dict (`optimizer_state`) into `opt`, sharded or not
    (model None: not sharded)."""
    if model is None or not is_sharded(model):
        opt.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = trainable_names(model)
    full = {"state": {names[i]: v for i, v in state["state"].items()},
            "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]}
    set_optimizer_state_dict(model, opt, full, options=StateDictOptions(full_state_dict=True))
