"""Atomic writes: a crash mid-write never leaves a half-written checkpoint or results file."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(tmp_path) on a temp file in the same directory, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Any) -> Path:
    text = json.dumps(_to_jsonable(data), indent=2, sort_keys=False, allow_nan=True) + "\n"
    return write_text(path, text)


def write_text(path: str | os.PathLike, text: str) -> Path:
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return atomic_write(path, w)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    def w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return atomic_write(path, w)


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def read_h5_dataset(path: str | os.PathLike, key: str, kind: str) -> np.ndarray:
    """The array stored under `key` in an HDF5 file; a missing key or unreadable file is a one-line UserError."""
    import h5py

    from lifting.errors import UserError

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if key not in h5:
                raise UserError(f"{path}: lacks dataset {key!r} (found: {', '.join(h5.keys()) or 'nothing'})")
            return h5[key][:]
    except OSError as e:
        raise UserError(f"{path}: not a readable HDF5 {kind} file ({e.__class__.__name__})") from None


def read_json(path: str | os.PathLike, what: str, missing_hint: str = "") -> Any:
    """The parsed JSON of `path`; a missing, unreadable or invalid file is a one-line UserError naming `what`."""
    from lifting.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found{'; ' + missing_hint if missing_hint else ''}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UserError(f"{path}: not valid JSON (expected a {what}; {e.__class__.__name__})") from None


def read_npz(path: str | os.PathLike, what: str, required: tuple[str, ...] = (), missing_hint: str = "") -> dict:
    """{key: array} of an .npz file (no pickles) holding at least `required`; every failure a one-line UserError."""
    from lifting.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found{'; ' + missing_hint if missing_hint else ''}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a readable .npz {what} ({e.__class__.__name__})") from None
    missing = [k for k in required if k not in data]
    if missing:
        raise UserError(f"{path}: {what} lacks key(s) {', '.join(missing)} (needs {', '.join(required)})")
    return data
