"""Process group handling: one process, or several under torchrun (gloo on CPU, nccl on CUDA)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Parallel:
    rank: int
    world: int
    device: torch.device
    owns_group: bool  # this run started the process group, so it ends it

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum numbers over processes (float64)."""
        tensor = torch.tensor(values, dtype=torch.float64)
        if self.world > 1:
            tensor = tensor.to(self.device)
            dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def gather(self, value: float) -> list[float]:
        """One number from every process, in rank order."""
        if self.world == 1:
            return [value]
        parts = [torch.zeros(1, dtype=torch.float64, device=self.device) for _ in range(self.world)]
        dist.all_gather(parts, torch.tensor([value], dtype=torch.float64, device=self.device))
        return [p.item() for p in parts]

    def share(self, value):
        """Rank 0's `value` (any picklable object), on every process."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def start() -> Parallel:
    """Join torchrun's process group when WORLD_SIZE > 1 (starting it if the caller has not), else one process."""
    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not dist.is_initialized():
        return Parallel(0, 1, torch.device("cuda" if cuda else "cpu"), False)
    owns = not dist.is_initialized()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    if owns:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    return Parallel(dist.get_rank(), dist.get_world_size(), device, owns)


def wrap(module: torch.nn.Module, par: Parallel, find_unused: bool = False) -> torch.nn.Module:
    """DistributedDataParallel under torchrun (`find_unused`: some parameters get no gradient in a step)."""
    if par.world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [par.device.index] if par.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)
