"""Several training processes (``torchrun``), and the device each one trains on.

Under ``torchrun`` (``WORLD_SIZE > 1``) both networks are wrapped in DistributedDataParallel
(nccl on GPUs, gloo on CPUs); each rank trains on its own shard of every epoch and its own noise
stream; rank 0 alone writes files. A single process is world size 1, and every collective below
is then a no-op: the training loop is written once for both.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from gmgan_lib.runtime import resolve_device


class Distributed:
    """Rank bookkeeping and this process's training ``device``; a single process is world size
    1 and every collective is a no-op."""

    def __init__(self, device_name: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owns_group = False
        if self.world > 1 and not torch.distributed.is_initialized():
            use_cuda = resolve_device(device_name).type == "cuda"
            if use_cuda:
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
            self.owns_group = True
        self.device = resolve_device(device_name, self.local_rank)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def max(self, values: list[int]) -> list[int]:
        """Element-wise maximum over ranks (one small all-reduce; identity for one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel when there are several processes."""
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every rank. DDP does this
        at the start of each forward, so after the last step the ranks' buffers differ."""
        if self.world > 1:
            for buffer in module.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def close(self, wait: bool = True) -> None:
        if self.owns_group:
            # Rank 0 still writes checkpoints and samples when the others are done: wait for it,
            # so no rank tears down its gloo/nccl threads while a peer is still connected (seen
            # as "terminate called without an active exception" at exit).
            if wait:
                torch.distributed.barrier()
            torch.distributed.destroy_process_group()
