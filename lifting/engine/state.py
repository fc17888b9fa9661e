"""Training state: seeding, a run's `Training` state, and checkpoints holding weights, optimiser,
LR scheduler, RNG, counters and any extra state (normalisation statistics, the resolved config, history), so
`--resume` continues bit-exactly on CPU."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lifting.checkpoint import (
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap,
)
from lifting.engine.history import History
from lifting.engine.optim import Optimisation, compiled, optimizer_step
from lifting.engine.task import Task, TrainPlan
from lifting.errors import UserError

if TYPE_CHECKING:
    from lifting.engine.distributed import Dist


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the torch generator used for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def save_training_state(path: str | os.PathLike, kind: str, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer | None, scheduler: Any, step: int, epoch: int,
                        generator: torch.Generator | None = None, extra: dict[str, Any] | None = None) -> None:
    """Atomically write the model `kind` (`lifting.checkpoint.KINDS`), weights, optimiser, LR scheduler, RNG,
    counters and `extra` (stats, config, history)."""
    save_checkpoint(path, {
        "kind": kind,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(generator),
        "step": int(step),
        "epoch": int(epoch),
        "extra": extra or {},
    })


def read_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """The training state in `path` (a run's last.pt) for --resume, read before any work: a damaged file is one
    line naming it and what to do, never a half-restored run that then overwrites best.pt."""
    path = Path(path)
    best = path.with_name("best.pt")
    remedy = (f"copy {best.name} over it to continue from the best evaluation, or " if best.is_file() else "") \
        + "start a new run in another out_dir"
    try:
        state = load_checkpoint(path)
    except UserError as e:
        raise UserError(f"--resume: {e}: the file is truncated or corrupt; {remedy}") from None
    extra = state.get("extra")
    missing = [k for k in ("optimizer", "scheduler", "rng", "step", "epoch") if k not in state]
    missing += [k for k in ("config", "task", "history") if not isinstance(extra, dict) or k not in extra]
    if missing:
        raise UserError(f"--resume: {path}: not a training state of this suite (lacks {', '.join(missing)}); {remedy}")
    return state


def restore_training_state(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                           scheduler: Any, generator: torch.Generator | None = None) -> tuple[int, int, dict[str, Any]]:
    """Put what `save_training_state` wrote (read by `read_training_state`) back; returns (step, epoch, extra)."""
    load_weights(model, state["model"], state["path"])
    try:
        if optimizer is not None and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], generator)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise UserError(f"--resume: {state['path']}: optimiser, schedule or RNG state does not fit this run "
                        f"({e.__class__.__name__}); start a new run in another out_dir") from None
    return int(state["step"]), int(state["epoch"]), state["extra"]


class Training:
    """One run's trainable state and position: the task's plan, the optimiser and schedule built from the config,
    the network the loss runs through (compiled, DDP-wrapped), the data-order generator, the step (the epoch is
    derived from it) and the history; saved as and restored from a checkpoint."""

    def __init__(self, task: Task, plan: TrainPlan, optim: Optimisation, generator: torch.Generator, dist: Dist):
        self.task, self.plan, self.generator, self.dist = task, plan, generator, dist
        self.total = optim.total_steps(plan)
        self.optimizer, self.scheduler = optim.optimizer(plan, self.total) if self.total > plan.start_step \
            else (None, None)
        self.net = compiled(plan.model, plan.example_input) if optim.compile and self.optimizer is not None \
            else plan.model
        if dist.distributed and self.optimizer is not None:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
        self.step, self.history = plan.start_step, History()

    def position(self) -> tuple[int, int]:
        """(epoch, step within it) of the current step."""
        return divmod(self.step - self.plan.start_step, self.plan.steps_per_epoch)

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.position()[0]

    def update(self, loss: torch.Tensor, grad_clip: float | None, max_norm: float | None) -> None:
        """One optimiser step on `loss`, one schedule step; the step counts."""
        optimizer_step(self.plan.model, self.optimizer, loss, grad_clip, max_norm)
        self.scheduler.step()
        self.step += 1
        self.history.samples += self.plan.batch_size * self.dist.world

    def save(self, path: str | os.PathLike, config: dict[str, Any]) -> None:
        save_training_state(path, self.task.kind, self.plan.model, self.optimizer, self.scheduler, self.step,
                            self.epoch, self.generator,
                            {"config": config, "task": self.task.state(), "history": self.history.to_dict()})

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `read_training_state`: the history holds the best evaluation so far (best.pt only
        improves)."""
        self.step, _, extra = restore_training_state(state, self.plan.model, self.optimizer, self.scheduler,
                                                     self.generator)
        self.task.load_state(extra["task"])
        self.history = History.from_dict(extra["history"])

    def results(self, metrics: dict[str, Any], stopped: bool, config: dict[str, Any]) -> dict[str, Any]:
        """The final results (results.json before the task's report adds its keys)."""
        return {**metrics, **self.history.timing(), "epochs_run": self.epoch, "iterations": self.step,
                "planned_iterations": self.total, "stopped_by_time_limit": stopped, "world_size": self.dist.world,
                "device": str(self.dist.device), "best": self.history.best, "curve": self.history.curve,
                "config": config}
