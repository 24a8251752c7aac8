"""Multi-process training under torchrun, on PyTorch's own engine (torch.distributed).

gankit averages gradients itself with one flat all-reduce per phase (as stylegan2-ada does)
instead of wrapping nets in DistributedDataParallel: DDP cannot take the double backward of
gradient penalties, and GAN phases freeze and unfreeze networks, which DDP's reducer does not
expect. The maths is DDP's: every rank starts from rank 0's weights, computes gradients on its
slice of the global batch, and applies the mean gradient.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # gankit started the process group (and ends it: shutdown)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, ...); single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                    owned)


def shutdown(info: DistInfo) -> None:
    """End the process group gankit started (one a caller started stays theirs). Left open,
    gloo's threads can abort the interpreter at exit ("terminate called without an active
    exception", exit code -6) after a run that otherwise ended well."""
    if info.owned and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def all_reduce_grads(params: list[nn.Parameter], world: int) -> None:
    """Average the gradients of ``params`` over ranks with one flat all-reduce."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    torch._foreach_copy_(grads, [f.view_as(g) for f, g in
                                 zip(flat.split([g.numel() for g in grads]), grads)])


def gather_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's ``t`` along dim 0, in rank order; ranks may hold different counts.

    For metric features: each rank embeds its share of the images and every rank gets all
    features back. Tensors travel on their own device (gloo: CPU, nccl: CUDA); the first
    dimension is padded to the largest rank's count for the collective and trimmed after.
    """
    if not info.enabled:
        return t
    t = t.contiguous()
    n = torch.tensor([t.shape[0]], device=t.device, dtype=torch.int64)
    counts = [torch.zeros_like(n) for _ in range(info.world)]
    dist.all_gather(counts, n)
    sizes = [int(c) for c in counts]
    padded = t.new_zeros((max(sizes), *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(info.world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:k] for p, k in zip(parts, sizes)])


def gather_objects(obj, info: DistInfo) -> list:
    if not info.enabled:
        return [obj]
    out = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
