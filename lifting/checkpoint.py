"""Checkpoints: atomic save, `weights_only` load, the RNG state needed for exact resume, and `load_trained`, the one
way to load a trained model of any kind.

A checkpoint is a plain dict of tensors, numbers, strings and nested dicts/lists, so it loads with
`torch.load(weights_only=True)`. It records the `kind` of model the task that wrote it trains (`KINDS`). Run
directories hold `last.pt` and `best.pt`; the zoo (`lifting.zoo`) holds packed ones, loaded by name. Float16 zoo
weights become float32 as `load_state_dict` copies them into the model.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
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
    """A checkpoint file, or a run directory's last.pt (the weights its results.json reports), else its best.pt;
    where no such file or directory exists, a model of the zoo by name (`lifting.zoo`, checksum checked)."""
    from lifting import zoo

    path = Path(path)
    if not path.exists() and len(path.parts) == 1 and not path.suffix:
        if str(path) in zoo.names():
            return zoo.resolve(str(path))
        raise UserError(f"{path}: no such checkpoint file or run directory, nor a model of the zoo (known: "
                        f"{', '.join(zoo.names()) or 'none yet'})")
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


def select_device(name: str) -> torch.device:
    """'auto' (CUDA when available), 'cpu' or 'cuda' (refused in one line where there is none)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: 'cuda' requested but no CUDA device is available; use device=cpu or auto")
    return torch.device(name)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    model = model.module if hasattr(model, "module") else model
    return getattr(model, "_orig_mod", model)


def load_weights(model: torch.nn.Module, weights: dict[str, Any], path: str | Path) -> None:
    """Load a checkpoint's weights; weights that do not fit the model are a one-line error naming the file."""
    try:
        unwrap(model).load_state_dict(weights)
    except (KeyError, RuntimeError, TypeError) as e:
        raise UserError(f"{path}: checkpoint does not fit this model ({str(e).splitlines()[0][:160]})") from None


@dataclass(frozen=True)
class Kind:
    """A kind of trained model: how messages name it, the script that trains it, and the function
    ("module:name", imported on use) that rebuilds it from a checkpoint's task state: (task, config, where) ->
    (model, the config it was built from)."""

    label: str
    script: str
    build: str | None = None


KINDS = {
    "lifter": Kind("a lifter", "main_human36.py or main_lsp.py", "lifting.models:lifter_from_state"),
    "estimator": Kind("an estimator", "main_metro.py", "lifting.models:estimator_from_state"),
    "rootnet": Kind("a RootNet", "main_rootnet.py", "lifting.models:rootnet_from_state"),
    "detector": Kind("a detector", "main_detector.py", "lifting.models:detector_from_state"),
    "stacked": Kind("a stacked lifter runs' joint state", "the paper runner"),
}
# Checkpoints written before kinds were recorded: the task-state key only that kind's task writes.
LEGACY_KEYS = (("members", "stacked"), ("lifter_config", "lifter"), ("gamma_sum", "rootnet"),
               ("mean_pose_sum", "estimator"))


@dataclass
class Trained:
    """A trained model in eval mode on the CPU, with what its task saved beside it."""

    kind: str
    model: torch.nn.Module
    config: dict[str, Any]       # the config the model was built from (a lifter's: its lifting config)
    task: dict[str, Any]         # the task state: normalisation statistics, gamma sums, ...
    path: Path                   # the checkpoint file read
    checkpoint: dict[str, Any]   # the whole checkpoint (optimiser state and step, for fine-tuning)


def checkpoint_kind(state: dict[str, Any]) -> str:
    """The kind a loaded checkpoint records; an older one's is told from its task state (`LEGACY_KEYS`)."""
    if isinstance(state.get("kind"), str):
        return state["kind"]
    extra = state.get("extra")
    task = extra.get("task") if isinstance(extra, dict) else None
    for key, kind in LEGACY_KEYS if isinstance(task, dict) else ():
        if key in task:
            return kind
    raise UserError(f"{state['path']}: a checkpoint without a recorded model kind or the task state that tells it; "
                    "retrain it with this version")


def _named(kind: str) -> str:
    return f"{KINDS[kind].label} ({KINDS[kind].script})" if kind in KINDS else f"kind {kind!r}"


def check_kind(state: dict[str, Any], expect: str | Iterable[str]) -> str:
    """The checkpoint's kind, if it is one of `expect`; else one line naming both."""
    expected = (expect,) if isinstance(expect, str) else tuple(expect)
    kind = checkpoint_kind(state)
    if kind not in expected:
        raise UserError(f"{state['path']}: this is {_named(kind).replace(' (', ' checkpoint (', 1)}; expected "
                        + " or ".join(_named(e) for e in expected))
    return kind


def load_trained(path: str | Path, expect: str | Iterable[str] = tuple(KINDS), device: str = "cpu") -> Trained:
    """The trained model in a run directory (last.pt, else best.pt) or checkpoint file, of one of the `expect`ed
    kinds (`KINDS`), in eval mode on `device` ('cpu', 'cuda' or 'auto'); another kind is one line naming both. A
    weight average, when the run kept one, is the model."""
    device = select_device(device)
    state = load_checkpoint(path)
    kind = check_kind(state, expect)
    extra = state.get("extra")
    task, config = (extra.get("task"), extra.get("config")) if isinstance(extra, dict) else (None, None)
    if KINDS[kind].build is None or not isinstance(task, dict) or not isinstance(config, dict):
        raise UserError(f"{state['path']}: {_named(kind)} checkpoint holds no model to load on its own")
    module, name = KINDS[kind].build.split(":")
    try:
        model, config = getattr(import_module(module), name)(task, config, state["path"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{state['path']}: an incomplete {_named(kind)} checkpoint ({e.__class__.__name__}: "
                        f"{str(e)[:80]})") from None
    load_weights(model, task.get("averaged_model", state["model"]), state["path"])
    return Trained(kind, model.to(device).eval(), config, task, Path(state["path"]), state)
