"""Where this process sits in a (possibly single-process) run: torchrun's environment -> process group."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from lifting.checkpoint import select_device


@dataclass
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    distributed: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            torch_dist.barrier()


def setup_distributed(device_name: str) -> Dist:
    """Join the process group when launched by torchrun (RANK/WORLD_SIZE set, even for one process): nccl on
    CUDA, gloo on CPU. A plain `python main_metro.py` runs single-process without DDP."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Dist(device=select_device(device_name))
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank=rank, world=world, device=device, distributed=True)


def cleanup_distributed() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def any_rank(flag: bool, dist: Dist) -> bool:
    """True if `flag` is true on any rank (keeps ranks stepping in lockstep when one hits a time limit)."""
    if not dist.distributed:
        return flag
    t = torch.tensor([float(flag)], device=dist.device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())
