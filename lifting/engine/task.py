"""What a model must provide to be trained by `fit`: a task builds its data and model, yields batches, computes the
loss, evaluates, carries its own state and reports. The engine owns everything else: the optimiser, schedule and
length built from the config, compilation, the loop, checkpoints and results files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from lifting.engine.distributed import Dist


@dataclass
class TrainPlan:
    """What a task hands the engine once its data and model are built."""

    model: torch.nn.Module                       # the parameters to optimise and checkpoint
    steps_per_epoch: int
    batch_size: int                              # samples per step in this process
    train: bool = True                           # False: evaluation only
    optimizer: str = "adam"                      # 'adam', 'adam_fused' or 'adamw' (MeTRo's decay; `Optimisation`)
    example_input: tuple[torch.Tensor, ...] = ()  # model inputs (batch 2) that probe torch.compile
    step_hook: Callable[[], None] | None = None  # called after every optimiser step (weight averaging)
    best_key: str = "mpjpe"                      # metric that picks best.pt
    best_mode: str = "min"                       # 'min' or 'max'
    curve_keys: tuple[str, ...] = ("mpjpe",)     # metrics logged and kept per evaluation
    start_step: int = 0                          # fine-tuning continues a loaded run's step count ...
    optimizer_state: dict[str, Any] | None = None  # ... and its optimiser state


class Task(Protocol):
    kind: str  # the kind of model it trains, recorded in its checkpoints (`lifting.checkpoint.KINDS`)

    def setup(self, dist: Dist) -> TrainPlan:
        """Load data and build the model (after the engine seeded every RNG)."""

    def batches(self, epoch: int, start: int, generator: torch.Generator) -> Iterable[Any]:
        """The batches of `epoch` from its `start`-th on, on the training device."""

    def loss(self, net: torch.nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, named parts) of one batch through `net`."""

    def evaluate(self, final: bool) -> dict[str, Any]:
        """Test metrics; `final` for the evaluation at the end (may include extra test sets)."""

    def state(self) -> dict[str, Any]:
        """Task state saved in checkpoints (statistics, running sums); restored by `load_state`."""

    def load_state(self, state: dict[str, Any]) -> None: ...

    def report(self, results: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """(keys to add to the final results, results.md text): formatting only, no files."""

    def artefacts(self, out_dir: Path) -> None:
        """Write the final evaluation's extra files (predictions .npz, figures) into `out_dir`, if configured."""
