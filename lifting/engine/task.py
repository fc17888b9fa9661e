"""What a model must provide to be trained by `fit`: a task builds its data and model, yields batches,
computes the loss, evaluates, and carries its own state. The loop owns everything else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from lifting.engine.distributed import Dist


@dataclass
class TrainPlan:
    """What a task hands the loop once its data and model are built."""

    model: torch.nn.Module                       # the parameters to optimise and checkpoint
    optimizer: torch.optim.Optimizer | None      # None: evaluation only
    scheduler: Any                               # a torch LR scheduler stepped once per step (or None)
    steps_per_epoch: int
    total_steps: int
    batch_size: int                              # samples per step in this process
    train_model: torch.nn.Module | None = None   # what the loss forwards through (compiled); default: model
    best_key: str = "mpjpe"                      # metric that picks best.pt
    best_mode: str = "min"                       # 'min', 'max', or 'none' (the task keeps its own best.pt)
    curve_keys: tuple[str, ...] = ("mpjpe",)     # metrics logged and kept per evaluation
    start_step: int = 0                          # fine-tuning continues a loaded run's step count


class Task(Protocol):
    kind: str  # the kind of model it trains, recorded in its checkpoints (`lifting.checkpoint.KINDS`)

    def setup(self, dist: Dist) -> TrainPlan:
        """Load data, build the model (after the loop seeded every RNG) and the optimiser."""

    def batches(self, epoch: int, start: int, generator: torch.Generator) -> Iterable[Any]:
        """The batches of `epoch` from its `start`-th on, on the training device."""

    def loss(self, net: torch.nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, named parts) of one batch through `net`."""

    def evaluate(self, final: bool) -> dict[str, Any]:
        """Test metrics; `final` for the evaluation at the end (may include extra test sets)."""

    def state(self) -> dict[str, Any]:
        """Task state saved in checkpoints (statistics, running sums); restored by `load_state`."""

    def load_state(self, state: dict[str, Any]) -> None: ...

    def summary(self, results: dict[str, Any]) -> str:
        """results.md for the final results (the task may add keys to `results` in place)."""
