"""Data-parallel training under torchrun: the process group, and what the ranks must agree on.

`torchrun --nproc_per_node N -m grucomplete.training train ...` starts N trainers. Each joins
the process group (NCCL on CUDA, gloo on the CPU), trains on its own lanes of the token stream
(`data.rank_share`) and lets DistributedDataParallel average the gradients, so the replicas
stay identical. Rank 0 alone validates and writes files. Started without torchrun (or with
WORLD_SIZE=1) nothing is initialised and every method here is a cheap no-op.

Whatever changes control flow must be unanimous, or one rank waits forever in a collective the
others never reach: stopping (a signal may reach one rank; each rank's clock reads the time
budget differently) and the validation loss behind early stopping. Those travel as CPU tensors
over a gloo group, so agreeing never waits on the GPU stream.
"""

from __future__ import annotations

import gc
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

_context: Distributed | None = None  # one per process: new_group is a collective call


@dataclass
class Distributed:
    rank: int = 0  # this process's index among all trainers
    world_size: int = 1  # trainers in all
    local_rank: int = 0  # index on this machine: picks the GPU
    group: Any = None  # gloo process group for control messages (None: not distributed)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def agree(self, elapsed_s: float, stop: bool) -> tuple[float, bool]:
        """The latest clock and whether any rank wants to stop, the same on every rank."""
        if not self.enabled:
            return elapsed_s, stop
        values = torch.tensor([elapsed_s, float(stop)], dtype=torch.float64)
        dist.all_reduce(values, op=dist.ReduceOp.MAX, group=self.group)
        return float(values[0]), bool(values[1] > 0)

    def broadcast(self, value: float) -> float:
        """Rank 0's `value` on every rank (the others pass anything)."""
        if not self.enabled:
            return value
        values = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(values, src=0, group=self.group)
        return float(values[0])

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (CPU tensors, numbers, lists), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value, group=self.group)
        return values

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier(group=self.group)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """`model` wrapped in DistributedDataParallel when distributed (it broadcasts rank 0's
        weights at construction, so every replica starts from the same point)."""
        if not self.enabled:
            return model
        device_ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def from_environment(device_type: str) -> Distributed:
    """Join the process group torchrun describes in the environment (once per process).

    `device_type` is "cuda" or "cpu": it picks NCCL or gloo and, on CUDA, this rank's GPU.
    """
    global _context
    if _context is not None:
        return _context
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        _context = Distributed()
        return _context
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    _context = Distributed(dist.get_rank(), dist.get_world_size(), local_rank, group)
    return _context


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    global _context
    if _context is not None and _context.enabled and dist.is_initialized():
        # DDP's reducer must go before its process group, or its threads abort the process at
        # exit ("terminate called without an active exception"); and no rank may tear down
        # while another still talks to it.
        gc.collect()
        dist.barrier(group=_context.group)
        dist.destroy_process_group()
    _context = None


def parameter_checksum(model: nn.Module) -> str:
    """A hash of the exact parameter bits: equal on every rank while the replicas agree."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
