"""Atomic writes (a crash mid-write never leaves a half-written checkpoint or results file), output paths checked
before any work starts, the one guard every reader of a user file runs its parser under, and the small readers.

Every entry point checks its outputs first, before it loads data or builds a model:

    out = check_output_dir(cfg["out_dir"], "out_dir")       # a folder the run will create or write into
    path = check_output_file(args.out, "--out")              # a file that one atomic write will (re)place

Both raise a one-line `UserError` naming `what` and the path, create nothing, and return the path as a `Path`.
"""

import json
import os
import pickle
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lifting.errors import UserError


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (the folder a new path will be created in)."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _writable_dir(folder: Path) -> bool:
    """Whether files can be created in `folder`: try it (an unnamed temp file where the OS supports it), since
    permission bits say nothing about read-only mounts, ACLs or root."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Fail now if `path` cannot be (created as) a writable directory: an existing file or other non-directory
    there or above it, or no write permission where it would be created. Nothing is created."""
    path = Path(path)
    base = _nearest_existing(path)
    where = f"{what} {path}"
    if not base.is_dir():
        if base == Path(os.path.abspath(path)):
            raise UserError(f"{where}: exists and is not a directory; remove it or choose another path")
        raise UserError(f"{where}: {base} exists and is not a directory, so nothing can be created under it")
    if not _writable_dir(base):
        missing = "" if base == Path(os.path.abspath(path)) else f" ({base}, where it would be created)"
        raise UserError(f"{where}: directory not writable{missing}; choose another path or fix its permissions")
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Fail now if `path` cannot be written as a file: it names a directory (or ends in a separator) or a
    device/special file, or its folder fails `check_output_dir`. Nothing is created."""
    text = os.fspath(path)
    path = Path(path)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise UserError(f"{what} {text}: is a directory, expected a file name")
    if os.path.lexists(path) and not path.is_file():
        raise UserError(f"{what} {path}: exists and is not a regular file (a device, socket or broken link)")
    check_output_dir(path.parent, f"{what} {path}: folder")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(tmp_path) on a temp file in the same directory, then rename it over `path`. The file gets the
    permissions a plain open() would give it (mkstemp's temp files are private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
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


# What parsers raise on bad bytes or a structure of the wrong shape (besides OSError for unreadable files).
_PARSE_ERRORS = (OSError, ValueError, TypeError, LookupError, AttributeError, ArithmeticError, EOFError, RecursionError,
                 MemoryError, NotImplementedError, SyntaxError, ImportError, struct.error, zlib.error,
                 zipfile.BadZipFile, pickle.UnpicklingError)
# Libraries' own error bases (not subclasses of the above), by module: checked only when that module is loaded,
# since a library that was never imported cannot have raised.
_LIBRARY_ERRORS = {"yaml": "YAMLError", "scipy.io.matlab": "MatReadError", "PIL.Image": "DecompressionBombError"}


def _library_errors() -> tuple[type[BaseException], ...]:
    found = []
    for module, name in _LIBRARY_ERRORS.items():
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(getattr(loaded, name, None), type):
            found.append(getattr(loaded, name))
    return tuple(found)


def _reason(e: BaseException) -> str:
    """A parser's exception as a short single line: where it stopped when known, else its class and message."""
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(e, json.JSONDecodeError):
        return f"line {e.lineno}: {e.msg}"
    mark = getattr(e, "problem_mark", None)  # YAML
    if mark is not None:
        return f"line {mark.line + 1}: {getattr(e, 'problem', None) or e.__class__.__name__}"
    try:
        text = " ".join(str(e).split())
    except Exception:  # a message that cannot be printed (e.g. holds a huge integer)
        text = ""
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{e.__class__.__name__}: {text}" if text else e.__class__.__name__


@contextmanager
def reading(path: str | os.PathLike, kind: str, expected: str = "") -> Iterator[None]:
    """Run a parser of a user file: any failure it raises becomes one `UserError` line
    `<path>: not <kind> (<reason>; expected <expected>)`; a UserError raised inside passes through unchanged.

        with reading(path, "a readable keypoint file", "COCO or OpenPose JSON"):
            data = json.loads(path.read_text())
            poses = [np.asarray(p["keypoints"], float) for p in data]
    """
    try:
        yield
    except UserError:
        raise
    except _PARSE_ERRORS + _library_errors() as e:
        detail = f"{_reason(e)}; expected {expected}" if expected else _reason(e)
        raise UserError(f"{path}: not {kind} ({detail})") from None


def read_npz(path: str | os.PathLike, kind: str, required: tuple[str, ...] = (),
             missing_hint: str = "") -> dict[str, np.ndarray]:
    """Every array of a .npz file (never unpickling), holding at least `required`; a missing, truncated or foreign
    file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {kind} file not found{'; ' + missing_hint if missing_hint else ''}")
    with reading(path, f"a readable .npz {kind} file"):
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise UserError(f"{path}: holds a single array, expected a .npz {kind} file of named arrays")
        with npz:
            data = {k: npz[k] for k in npz.files}
    missing = [k for k in required if k not in data]
    if missing:
        raise UserError(f"{path}: {kind} file lacks key(s) {', '.join(missing)} (needs {', '.join(required)})")
    return data


def read_json(path: str | os.PathLike, kind: str, missing_hint: str = "") -> Any:
    """The parsed JSON of `path`; a missing, unreadable or invalid file is a one-line UserError naming `kind`.
    Numbers that do not fit a float64 (1e400) are refused, so every number read converts to an array."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {kind} not found{'; ' + missing_hint if missing_hint else ''}")
    with reading(path, "valid JSON", f"a {kind}"):
        return json.loads(path.read_text(encoding="utf-8"), parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_float)


def _json_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")) and text.lstrip("-") != "Infinity":
        raise ValueError(f"number {text[:20]} too large for a float")
    return value


def _json_int(text: str) -> int:
    value = int(text)
    if abs(value) >= 2 ** 63:
        raise ValueError(f"integer {text[:20]}... too large (at most 2**63 - 1)")
    return value


def read_h5_dataset(path: str | os.PathLike, key: str, kind: str) -> np.ndarray:
    """The array stored under `key` in an HDF5 file; a missing key or unreadable file is a one-line UserError."""
    import h5py

    path = Path(path)
    with reading(path, f"a readable HDF5 {kind} file"):
        with h5py.File(path, "r") as h5:
            if key not in h5:
                raise UserError(f"{path}: lacks dataset {key!r} (found: {', '.join(h5.keys()) or 'nothing'})")
            if not isinstance(h5[key], h5py.Dataset):
                raise UserError(f"{path}: {key!r} is a group, expected a dataset of numbers")
            return h5[key][:]
