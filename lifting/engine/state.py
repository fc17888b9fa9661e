"""Training state: seeding, device choice, and checkpoints holding weights, optimiser, LR scheduler, RNG,
counters and any extra state (normalisation statistics, the resolved config, history), so `--resume`
continues bit-exactly on CPU."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
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


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    model = model.module if hasattr(model, "module") else model
    return getattr(model, "_orig_mod", model)


def save_training_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                        scheduler: Any, step: int, epoch: int, generator: torch.Generator | None = None,
                        extra: dict[str, Any] | None = None) -> None:
    """Atomically write weights, optimiser, LR scheduler, RNG, counters and `extra` (stats, config, history)."""
    save_checkpoint(path, {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(generator),
        "step": int(step),
        "epoch": int(epoch),
        "extra": extra or {},
    })


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: str | os.PathLike) -> None:
    """Load a checkpoint's weights; one that does not fit the model is a one-line error naming the file."""
    try:
        unwrap(model).load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"{path}: checkpoint does not fit this model ({str(e).splitlines()[0][:160]})") from None


def load_training_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                        scheduler: Any, generator: torch.Generator | None = None) -> tuple[int, int, dict[str, Any]]:
    """Restore what `save_training_state` wrote; returns (step, epoch, extra)."""
    state = load_checkpoint(path)
    load_weights(model, state, path)
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"], generator)
    return state["step"], state["epoch"], state.get("extra", {})
