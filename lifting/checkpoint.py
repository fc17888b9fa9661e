"""Checkpoints: atomic save, `weights_only` load, and the RNG state needed for exact resume.

A checkpoint is a plain dict of tensors, numbers, strings and nested dicts/lists, so it loads with
`torch.load(weights_only=True)`. Run directories hold `last.pt` and `best.pt`.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.errors import UserError
from lifting.fileio import save_torch


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG a training loop may touch, in weights_only-loadable form."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps([np_state[0], np_state[1].tolist(), *np_state[2:]]),
        "python": json.dumps(random.getstate(), default=list),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = json.loads(state["numpy"])
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write atomically (temp file + rename): an interrupted save never corrupts the previous file."""
    return save_torch(path, state)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's last.pt (the weights its results.json reports), else its best.pt."""
    path = Path(path)
    if path.is_dir():
        for name in ("last.pt", "best.pt"):
            if (path / name).is_file():
                return path / name
        raise UserError(f"{path}: no last.pt or best.pt checkpoint in this directory")
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict of a file or run directory (`resolve_checkpoint`); unreadable files are one-line errors."""
    path = resolve_checkpoint(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a foreign file's pickle-protocol warning is not the user's concern
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for truncated / foreign files
        raise UserError(f"{path}: not a readable checkpoint ({e.__class__.__name__})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"{path}: not a checkpoint of this suite (no model weights)")
    state["path"] = str(path)
    return state


def task_state(state: dict[str, Any], kind: str, required: tuple[str, ...]) -> dict[str, Any]:
    """The task part of a loaded checkpoint, checked to hold `required` keys (else: not a `kind` checkpoint)."""
    extra = state.get("extra", {})
    task = extra.get("task", {}) if isinstance(extra, dict) else {}
    missing = [k for k in required if k not in task]
    if missing or "config" not in extra:
        raise UserError(f"{state['path']}: not a {kind} checkpoint (lacks {', '.join(missing or ['config'])})")
    return task
