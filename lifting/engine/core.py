"""Pieces every training entry point shares: run directory, logging, progress, results, seeding, checkpoints.

A run directory holds `config.yaml`, `last.pt`, `best.pt`, `results.json`, `results.md` and `tb/`
(TensorBoard). Checkpoints carry weights, optimiser, RNG, step/epoch and any extra state (normalisation
statistics, the resolved config, training history), so `--resume` continues bit-exactly on CPU.
"""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from lifting.config import save_config
from lifting.errors import UserError
from lifting.fileio import write_json, write_text


class RunDir:
    """Paths of one run's outputs."""

    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.last = self.root / "last.pt"
        self.best = self.root / "best.pt"
        self.config = self.root / "config.yaml"
        self.results = self.root / "results.json"
        self.results_md = self.root / "results.md"
        self.tb = self.root / "tb"


def prepare_run(out_dir: str | os.PathLike, cfg: dict[str, Any], resume: bool = False) -> RunDir:
    """Create the run directory and save the resolved config; `resume` requires an existing last.pt."""
    run = RunDir(out_dir)
    if resume and not run.last.is_file():
        raise UserError(f"{run.last}: nothing to resume (no last.pt in out_dir); run without --resume first")
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{run.root}: cannot create output directory ({e.strerror})") from None
    save_config(run.config, cfg)
    return run


class Logger:
    """TensorBoard scalars (only when enabled; rank 0 in distributed runs)."""

    def __init__(self, run: RunDir, enabled: bool = True):
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(run.tb))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool = True):
    """tqdm progress bar on an interactive terminal; silent otherwise (logs stay readable)."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def write_results(run: RunDir, results: dict[str, Any], markdown: str | None = None) -> None:
    """results.json (and results.md if given), each written atomically."""
    write_json(run.results, results)
    if markdown is not None:
        write_text(run.results_md, markdown)


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


def save_training_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                        step: int, epoch: int, generator: torch.Generator | None = None,
                        extra: dict[str, Any] | None = None) -> None:
    """Atomically write weights, optimiser, RNG, counters and `extra` (stats, config, history)."""
    module = model.module if hasattr(model, "module") else model
    module = getattr(module, "_orig_mod", module)
    state = {
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "rng": rng_state(generator),
        "step": int(step),
        "epoch": int(epoch),
        "extra": extra or {},
    }
    save_checkpoint(path, state)


def load_training_state(path: str | os.PathLike, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer | None = None,
                        generator: torch.Generator | None = None,
                        restore_rng: bool = True) -> tuple[int, int, dict[str, Any]]:
    """Restore what `save_training_state` wrote; returns (step, epoch, extra)."""
    state = load_checkpoint(path)
    module = model.module if hasattr(model, "module") else model
    module = getattr(module, "_orig_mod", module)
    try:
        module.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"{path}: checkpoint does not fit this model ({str(e).splitlines()[0][:160]})") from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if restore_rng:
        set_rng_state(state["rng"], generator)
    return state["step"], state["epoch"], state.get("extra", {})


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                   grad_clip: float | None) -> None:
    """Backward pass, optional global gradient-norm clipping, parameter update."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def lr_at(step: int, total_steps: int, base_lr: float, schedule: str, warmup_steps: int = 0,
          decay: float = 0.96, decay_steps: int = 100_000, final_fraction: float = 0.01) -> float:
    """Learning rate at `step` for the named schedule.

    'staircase': base * decay^floor(step/decay_steps) (Ronchi et al.); 'exponential': the continuous
    version (Martinez et al.); 'cosine': linear warm-up then cosine to `final_fraction` * base; 'constant'.
    """
    if schedule == "staircase":
        return base_lr * decay ** (step // decay_steps)
    if schedule == "exponential":
        return base_lr * decay ** (step / decay_steps)
    if schedule == "cosine":
        if warmup_steps and step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return base_lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * t)))
    if schedule == "constant":
        return base_lr
    raise UserError(f"lr_schedule: unknown schedule {schedule!r}; expected staircase, exponential, cosine or constant")
