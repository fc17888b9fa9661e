"""Training state: seeding, device choice, and checkpoints holding weights, optimiser, LR scheduler, RNG,
counters and any extra state (normalisation statistics, the resolved config, history), so `--resume`
continues bit-exactly on CPU."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint, load_weights, rng_state, save_checkpoint, set_rng_state, unwrap
from lifting.errors import UserError


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the torch generator used for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: 'cuda' requested but no CUDA device is available; use device=cpu or auto")
    return torch.device(name)


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
